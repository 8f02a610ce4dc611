"""`lawful lsp` end to end: a real LSP client (pytest-lsp) talking to `lawful lsp` over stdio, on a copy of the
default bundle (policies/, gateways.yaml and tests/policy/ copied to a temporary folder).

One server serves the whole module (starting it costs a second); each test opens its own documents and closes
what it edits, so the disk copy stays the default bundle.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

pytest_lsp = pytest.importorskip("pytest_lsp")
import pytest_asyncio  # noqa: E402
from lsprotocol import types as t  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

from engine.review.fmt import format_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LAWFUL = shutil.which("lawful", path=str(Path(sys.executable).parent)) or "lawful"
WAIT = 30  # seconds: the longest a test waits for diagnostics (they come in well under a second here)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    shutil.copytree(ROOT / "policies", root / "policies")
    shutil.copy(ROOT / "gateways.yaml", root / "gateways.yaml")
    shutil.copytree(ROOT / "tests" / "policy", root / "tests" / "policy")
    return root


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[LAWFUL, "lsp"]))
async def client(lsp_client: LanguageClient, bundle: Path):
    await lsp_client.initialize_session(
        t.InitializeParams(
            capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
            root_uri=bundle.as_uri(),
            workspace_folders=[t.WorkspaceFolder(uri=bundle.as_uri(), name="bundle")],
        )
    )
    yield
    await lsp_client.shutdown_session()


OPENED: list = []  # (client, path) of the documents a test opened; closed after it, pass or fail


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def close_what_was_opened():
    yield
    while OPENED:
        client, path = OPENED.pop()
        close_doc(client, path)


# ---- helpers ---------------------------------------------------------------------------------------------


def uri(path: Path) -> str:
    return path.as_uri()


def open_doc(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    text = path.read_text(encoding="utf-8") if text is None else text
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(uri=uri(path), language_id="lawful-policy", version=version, text=text)
        )
    )
    OPENED.append((client, path))
    return text


def replace_all(client: LanguageClient, path: Path, text: str, version: int) -> None:
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri(path), version=version),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def close_doc(client: LanguageClient, path: Path) -> None:
    if (client, path) in OPENED:
        OPENED.remove((client, path))
    client.text_document_did_close(t.DidCloseTextDocumentParams(text_document=t.TextDocumentIdentifier(uri=uri(path))))


async def diagnostics(client: LanguageClient, path: Path, until) -> list[t.Diagnostic]:
    """The file's diagnostics once `until(diagnostics)` holds (polled: a cancelled wait for a notification
    would break pytest-lsp's client)."""
    for _ in range(int(WAIT / 0.05)):
        ds = client.diagnostics.get(uri(path))
        if ds is not None and until(list(ds)):
            return list(ds)
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"no diagnostics as expected for {path.name} within {WAIT} s: {client.diagnostics.get(uri(path))}"
    )


def position(text: str, needle: str, offset: int = 0, occurrence: int = 0) -> t.Position:
    """The position of `needle` (+ offset characters) in the text, for the n-th occurrence."""
    at = -1
    for _ in range(occurrence + 1):
        at = text.index(needle, at + 1)
    at += offset
    line = text.count("\n", 0, at)
    return t.Position(line=line, character=at - (text.rfind("\n", 0, at) + 1))


def doc_id(path: Path) -> t.TextDocumentIdentifier:
    return t.TextDocumentIdentifier(uri=uri(path))


# ---- diagnostics -------------------------------------------------------------------------------------------


async def test_a_broken_file_gets_its_diagnostic_at_the_right_range_and_a_fix_clears_it(client, bundle):
    path = bundle / "policies" / "scratch.policy"
    open_doc(client, path, 'gateway SCRATCH "Scratch" {\n  data\n}\n')  # never saved: the editor's text is checked
    ds = await diagnostics(client, path, lambda ds: any(d.code == "parse-error" for d in ds))
    (d,) = [d for d in ds if d.code == "parse-error"]
    assert d.severity == t.DiagnosticSeverity.Error and d.source == "lawful"
    assert "expected a data category after `data`" in d.message
    assert d.range == t.Range(start=t.Position(line=2, character=0), end=t.Position(line=2, character=1))
    assert d.code_description is not None and d.code_description.href.endswith("review-guide.md#diagnostics")

    replace_all(client, path, 'data scratch-data "Scratch data" under provider-data\n', 2)
    assert await diagnostics(client, path, lambda ds: ds == []) == []
    close_doc(client, path)


async def test_ranges_count_utf16_units_after_characters_beyond_the_bmp(client, bundle):
    path = bundle / "policies" / "emoji.policy"
    text = 'organisation EMOJI "😀 Smiles" part-of NOPE\n'
    open_doc(client, path, text)
    ds = await diagnostics(client, path, lambda ds: any(d.code == "unknown-name" for d in ds))
    (d,) = [d for d in ds if d.code == "unknown-name"]
    column = text.index("NOPE") + 1  # the emoji is one character but two UTF-16 code units
    assert d.range == t.Range(start=t.Position(line=0, character=column), end=t.Position(line=0, character=column + 4))
    hover = await client.text_document_hover_async(
        t.HoverParams(text_document=doc_id(path), position=t.Position(line=0, character=column + 1))
    )
    assert "unknown organisation `NOPE`" in hover.contents.value


async def test_an_unsaved_edit_is_checked_with_code_help_and_related_locations(client, bundle):
    agreements = bundle / "policies" / "agreements.policy"
    text = open_doc(client, agreements)
    edited = text.replace("  under LSC-INSPECTION\n", "  under LSC-INSPECTON\n", 1)
    replace_all(client, agreements, edited, 2)
    ds = await diagnostics(client, agreements, lambda ds: any(d.code == "unknown-name" for d in ds))
    (d,) = [d for d in ds if d.code == "unknown-name"]
    start = position(edited, "LSC-INSPECTON")
    assert d.range == t.Range(
        start=start, end=t.Position(line=start.line, character=start.character + len("LSC-INSPECTON"))
    )
    assert "unknown gateway `LSC-INSPECTON`" in d.message and "did you mean `LSC-INSPECTION`" in d.message

    # a duplicate points at the first declaration, in another file
    dup = bundle / "policies" / "zz-dup.policy"  # after organisations.policy: the second declaration
    open_doc(client, dup, 'organisation lsc "Another LSC"\n')
    ds = await diagnostics(client, dup, lambda ds: any(d.code == "duplicate-id" for d in ds))
    (d,) = [d for d in ds if d.code == "duplicate-id"]
    (rel,) = d.related_information
    assert rel.location.uri == uri(bundle / "policies" / "organisations.policy")
    assert (
        rel.location.range.start.line
        == position((bundle / "policies" / "organisations.policy").read_text(), "organisation LSC ").line
    )
    close_doc(client, dup)
    close_doc(client, agreements)
    # closed unsaved: the files on disk stand again, and their diagnostics go
    await diagnostics(client, dup, lambda ds: ds == [])
    await diagnostics(client, agreements, lambda ds: not any(d.code == "unknown-name" for d in ds))


async def test_lint_warnings_are_published_like_lawful_check(client, bundle):
    from engine.review.lint import check_and_lint

    expected, _ = check_and_lint(bundle)
    organisations = bundle / "policies" / "organisations.policy"
    open_doc(client, organisations)
    want = sorted(
        (d.code, d.span.line - 1) for d in expected if d.span and d.span.file == "policies/organisations.policy"
    )
    assert want
    ds = await diagnostics(client, organisations, lambda ds: sorted((d.code, d.range.start.line) for d in ds) == want)
    assert any(d.code == "isolated-organisation" and d.severity == t.DiagnosticSeverity.Information for d in ds)
    close_doc(client, organisations)


# ---- hover, definition, references -----------------------------------------------------------------------


async def test_hover_says_kind_title_place_and_what_matters(client, bundle):
    agreements = bundle / "policies" / "agreements.policy"
    text = open_doc(client, agreements)
    h = await client.text_document_hover_async(
        t.HoverParams(text_document=doc_id(agreements), position=position(text, "from LSC to ALI", 12))
    )
    assert "**organisation** `ALI` — Adult Learning Inspectorate" in h.contents.value
    assert "policies/organisations.policy:152" in h.contents.value
    assert "functions of ALI, OfSTED passed to OFSTED-2007 on 2007-04-01" in h.contents.value

    h = await client.text_document_hover_async(
        t.HoverParams(text_document=doc_id(agreements), position=position(text, "under LSC-INSPECTION", 8))
    )
    assert "**gateway** `LSC-INSPECTION`" in h.contents.value and "statute `LSA-2000`" in h.contents.value
    close_doc(client, agreements)

    organisations = bundle / "policies" / "organisations.policy"
    text = open_doc(client, organisations)
    h = await client.text_document_hover_async(
        t.HoverParams(text_document=doc_id(organisations), position=position(text, "organisation JCP ", 14))
    )
    assert "part of: `DWP`" in h.contents.value and "Jobcentre Plus" in h.contents.value
    close_doc(client, organisations)

    gateways = bundle / "policies" / "gateways.policy"
    text = open_doc(client, gateways)
    h = await client.text_document_hover_async(
        t.HoverParams(text_document=doc_id(gateways), position=position(text, "statute SSAA-1992 \"section 122\"", 10))
    )
    value = h.contents.value
    assert "**statute** `SSAA-1992`" in value and "citation: 1992 c. 5" in value and "status: in-force" in value
    assert "https://www.legislation.gov.uk/ukpga/1992/5/section/122" in value
    close_doc(client, gateways)


async def test_definition_and_references_cross_files(client, bundle):
    agreements = bundle / "policies" / "agreements.policy"
    text = open_doc(client, agreements)
    at = position(text, "under LSC-INSPECTION", 8)
    loc = await client.text_document_definition_async(t.DefinitionParams(text_document=doc_id(agreements), position=at))
    gateways_text = (bundle / "policies" / "gateways.policy").read_text()
    assert loc.uri == uri(bundle / "policies" / "gateways.policy")
    assert loc.range.start == position(gateways_text, "gateway LSC-INSPECTION", 8)

    refs = await client.text_document_references_async(
        t.ReferenceParams(
            text_document=doc_id(agreements), position=at, context=t.ReferenceContext(include_declaration=True)
        )
    )
    places = {(r.uri.rsplit("/", 1)[-1], r.range.start.line) for r in refs}
    assert ("gateways.policy", position(gateways_text, "gateway LSC-INSPECTION").line) in places
    assert len([p for p in places if p[0] == "agreements.policy"]) == text.count("under LSC-INSPECTION\n")

    # a statute: from its citation in a gateway to its key in gateways.yaml
    gw_at = position(gateways_text, "statute LSA-2000", 9)
    loc = await client.text_document_definition_async(
        t.DefinitionParams(text_document=doc_id(bundle / "policies" / "gateways.policy"), position=gw_at)
    )
    register = (bundle / "gateways.yaml").read_text()
    assert loc.uri == uri(bundle / "gateways.yaml")
    assert loc.range.start == position(register, "  LSA-2000:", 2)
    close_doc(client, agreements)


# ---- completion -------------------------------------------------------------------------------------------


async def test_completion_offers_names_where_they_go_and_keywords(client, bundle):
    path = bundle / "policies" / "typing.policy"
    text = 'agreement NEW "New" {\n  from LSC to \n  data prov\n  \n}\n'
    open_doc(client, path, text)

    async def labels(pos: t.Position) -> set[str]:
        result = await client.text_document_completion_async(
            t.CompletionParams(text_document=doc_id(path), position=pos)
        )
        return {i.label for i in result.items}

    after_to = await labels(t.Position(line=1, character=14))
    assert {"ALI", "OfSTED", "JCP"} <= after_to and "provider-data" not in after_to
    data = await labels(t.Position(line=2, character=11))
    assert {"provider-data", "provider-statistics"} <= data and "ALI" not in data
    result = await client.text_document_completion_async(
        t.CompletionParams(text_document=doc_id(path), position=t.Position(line=2, character=11))
    )
    item = next(i for i in result.items if i.label == "provider-data")
    assert item.text_edit.range == t.Range(start=t.Position(line=2, character=7), end=t.Position(line=2, character=11))
    clauses = await labels(t.Position(line=3, character=2))
    assert {"under", "valid", "review", "owner", "onward", "lawful-basis"} <= clauses and "allows" not in clauses
    top = await labels(t.Position(line=5, character=0))
    assert {"organisation", "data", "purpose", "gateway", "restriction", "agreement", "test"} <= top
    close_doc(client, path)


# ---- formatting and rename --------------------------------------------------------------------------------


async def test_formatting_goes_through_the_engine_formatter(client, bundle):
    path = bundle / "policies" / "messy.policy"
    text = 'data   messy-data "Messy"   under provider-data\n\n\n\npurpose messy-purpose "Messy"   # why\n'
    open_doc(client, path, text)
    edits = await client.text_document_formatting_async(
        t.DocumentFormattingParams(
            text_document=doc_id(path), options=t.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )
    (edit,) = edits
    assert edit.new_text == format_text(text, "messy.policy") and edit.range.start == t.Position(line=0, character=0)
    assert "  " not in edit.new_text.splitlines()[0]
    close_doc(client, path)


async def test_rename_edits_every_use_across_the_bundle(client, bundle):
    agreements = bundle / "policies" / "agreements.policy"
    text = open_doc(client, agreements)
    at = position(text, "under LSC-INSPECTION", 8)
    prep = await client.text_document_prepare_rename_async(
        t.PrepareRenameParams(text_document=doc_id(agreements), position=at)
    )
    assert prep.placeholder == "LSC-INSPECTION"
    edit = await client.text_document_rename_async(
        t.RenameParams(text_document=doc_id(agreements), position=at, new_name="LSC-INSPECTS")
    )
    changes = {u.rsplit("/", 1)[-1]: es for u, es in edit.changes.items()}
    assert set(changes) == {"agreements.policy", "gateways.policy"}
    assert len(changes["agreements.policy"]) == text.count("under LSC-INSPECTION\n")
    assert all(e.new_text == "LSC-INSPECTS" for es in changes.values() for e in es)
    # the edits replace exactly the name
    lines = text.splitlines()
    for e in changes["agreements.policy"]:
        assert lines[e.range.start.line][e.range.start.character : e.range.end.character] == "LSC-INSPECTION"
    # a name that is taken, or not an identifier, is refused
    with pytest.raises(Exception, match="already names"):
        await client.text_document_rename_async(
            t.RenameParams(text_document=doc_id(agreements), position=at, new_name="LSC-ALI-2005")
        )
    with pytest.raises(Exception, match="not an identifier"):
        await client.text_document_rename_async(
            t.RenameParams(text_document=doc_id(agreements), position=at, new_name="two words")
        )
    close_doc(client, agreements)


# ---- policy tests and the decision command ---------------------------------------------------------------


async def test_code_lens_shows_test_results_and_decides_a_flow(client, bundle):
    story = bundle / "tests" / "policy" / "story.policy"
    text = open_doc(client, story)
    lenses = await client.text_document_code_lens_async(t.CodeLensParams(text_document=doc_id(story)))
    first_test = position(text, 'test "Jobcentre Plus cannot give')
    block = [c for c in lenses if c.range.start.line == first_test.line]
    assert [c.command.title for c in block] == ["✓ 4 passed"]
    decide = [c for c in lenses if c.command.command == "lawful.decide"]
    assert len(decide) == text.count("\n  expect ")
    answer = await client.workspace_execute_command_async(
        t.ExecuteCommandParams(command=decide[0].command.command, arguments=decide[0].command.arguments)
    )
    assert answer.startswith("DENIED — as JCP holds it for employment-services or social-security: one-way "
                             "legislative block")
    assert "on 2005-06-23" in answer

    # an expectation turned round fails, in the lens, before it is saved
    flipped = text.replace(
        "expect deny JCP -> ALI provider-data for inspection on 2005-06-23 because DWP-ONE-WAY-2005",
        "expect allow JCP -> ALI provider-data for inspection on 2005-06-23 because DWP-ONE-WAY-2005",
        1,
    )
    replace_all(client, story, flipped, 2)
    for _ in range(100):
        lenses = await client.text_document_code_lens_async(t.CodeLensParams(text_document=doc_id(story)))
        titles = [c.command.title for c in lenses if c.range.start.line == first_test.line]
        if titles == ["✗ 1 of 4 failed"]:
            break
        await asyncio.sleep(0.1)
    assert titles == ["✗ 1 of 4 failed"]
    details = await client.workspace_execute_command_async(
        t.ExecuteCommandParams(command="lawful.testResults", arguments=[uri(story), first_test.line + 1])
    )
    assert "FAILED" in details and "expected allow, got deny" in details
    close_doc(client, story)


async def test_a_test_file_outside_the_bundle_may_not_declare(client, bundle):
    story = bundle / "tests" / "policy" / "extra.policy"
    open_doc(
        client, story, 'organisation X "x"\ntest "t" {\n  expect deny JCPX -> ALI provider-data for inspection\n}\n'
    )
    ds = await diagnostics(client, story, lambda ds: len(ds) >= 2)
    assert {d.code for d in ds} == {"declaration-in-test-file", "unknown-name"}
    close_doc(client, story)
    await diagnostics(client, story, lambda ds: ds == [])


async def test_outline_and_files_changed_on_disk(client, bundle):
    purposes = bundle / "policies" / "purposes.policy"
    text = open_doc(client, purposes)
    symbols = await client.text_document_document_symbol_async(
        t.DocumentSymbolParams(text_document=doc_id(purposes))
    )
    assert [s.name for s in symbols] == [line.split()[1] for line in text.splitlines() if line.startswith("purpose ")]

    # a file written outside the editor (a git checkout) is checked when the client says it changed
    added = bundle / "policies" / "zz-added.policy"
    added.write_text('data added-data "Added" under nowhere\n', encoding="utf-8")
    try:
        client.workspace_did_change_watched_files(
            t.DidChangeWatchedFilesParams(changes=[t.FileEvent(uri=uri(added), type=t.FileChangeType.Created)])
        )
        ds = await diagnostics(client, added, lambda ds: any(d.code == "unknown-name" for d in ds))
        assert "unknown data category `nowhere`" in ds[0].message
    finally:
        added.unlink()
        client.workspace_did_change_watched_files(
            t.DidChangeWatchedFilesParams(changes=[t.FileEvent(uri=uri(added), type=t.FileChangeType.Deleted)])
        )
    await diagnostics(client, added, lambda ds: ds == [])
