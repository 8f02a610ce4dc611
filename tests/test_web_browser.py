"""Issue 15: the web page in a real browser (Debian's Chromium, driven by Playwright), as a policy officer
would use it: ask the story's question and read the verdict, find a name by its title, see what changed on
1 April 2007, print the decision record, do it all with the keyboard alone, and pass an axe-core
accessibility scan with no serious or critical violation.

A screenshot of each view is saved by the run: into a temporary folder, or into $LAWFUL_SCREENSHOT_DIR (the
pictures in docs/img/ are made with `LAWFUL_SCREENSHOT_DIR=docs/img pytest tests/test_web_browser.py`).
Skipped, with the reason, where Chromium or Playwright is not installed (.ci/run installs both).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LAWFUL_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists() and shutil.which("chromium"):
    CHROMIUM = shutil.which("chromium") or CHROMIUM
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the `playwright` package is not installed")
pytest.importorskip("fastapi")

from engine.ops.decision_log import AuditLog  # noqa: E402
from engine.ops.service import BundleHolder, create_app  # noqa: E402

from test_service import running  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = AuditLog(tmp_path_factory.mktemp("log") / "decisions.jsonl")
    holder = BundleHolder(ROOT)
    with running(create_app(holder, audit_log=log)) as url:
        yield url, holder


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("LAWFUL_SCREENSHOT_DIR")
    folder = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, server):
    url, _holder = server
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB")
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    # window.print opens a dialog in a headed browser: count the calls instead
    pg.add_init_script("window.__printed = 0; window.print = () => { window.__printed += 1; };")
    pg.goto(url + "/")
    pg.get_by_text("Ready:").wait_for()
    yield pg
    context.close()
    assert not problems, problems


def _ask(pg, source: str, recipient: str, data: str, purpose: str, on: str) -> None:
    pg.fill("#ask-source", source)
    pg.fill("#ask-recipient", recipient)
    pg.fill("#ask-data", data)
    pg.fill("#ask-purpose", purpose)
    pg.fill("#ask-on", on)
    pg.keyboard.press("Escape")
    pg.click("#ask-form button[type=submit]")
    pg.locator("#ask-result [data-verdict]").first.wait_for()


def _no_serious_violations(pg, what: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(pg)
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{what}: {bad}"


# ---- the story ---------------------------------------------------------------------------------------------


def test_the_storys_question_is_not_allowed_because_of_a_one_way_block(page, shots):
    _ask(page, "JCP", "ALI", "provider-data", "inspection", "2005-06-23")
    verdict = page.locator("#ask-result [data-verdict]")
    assert verdict.inner_text() == "NOT ALLOWED"
    assert verdict.get_attribute("data-verdict") == "deny"
    answer = page.locator("#ask-result").inner_text()
    # the department's one-way position of 2005, citing the Act's information Part (not the s.123 offence)
    assert "One-way block" in answer and "Social Security Administration Act 1992, Part VII" in answer
    assert "Jobcentre Plus (JCP) may not disclose this data to anyone" in answer
    assert "on 23 June 2005" in answer
    law = page.get_by_role("link", name="Social Security Administration Act 1992, Part VII")
    assert law.get_attribute("href") == "https://www.legislation.gov.uk/ukpga/1992/5/part/VII"
    # the proposed statute is a what-if under its own heading, in the engine's words, never a to-do
    assert "Only a change in the law would make it lawful" in answer and "enact the" not in answer
    assert "The statute DCA-GATEWAY-2006 (Proposed legal gateway for education and skills data) is only " \
           "proposed, not law: if it were enacted, gateway DCA-PROVIDER-DATA would allow this flow" in answer
    assert "`" not in answer and "--assume" not in answer  # the terminal's options are not the page's
    page.screenshot(path=str(shots / "web-ask.png"), full_page=True)


def test_an_allowed_answer_names_the_law_and_the_agreement_with_its_owner_and_dates(page):
    _ask(page, "LSC", "ALI", "provider-data", "inspection", "2005-06-23")
    assert page.locator("#ask-result [data-verdict]").inner_text() == "ALLOWED"
    answer = page.locator("#ask-result").inner_text()
    assert "LSC-ALI-2005: Provider data for inspection" in answer
    assert "owner: Data Sharing Lead, Learning and Skills Council" in answer
    assert "review due 22 June 2006" in answer and "ends 21 June 2008" in answer
    assert "What they may do with it next: not pass it on (it may not leave ALI)" in answer


def test_a_condition_only_a_person_can_establish_is_confirmed_on_the_page_and_the_question_asked_again(page):
    # SSAA 1992 s.122(2): tax information may be supplied "with the authority of the Commissioners concerned"
    _ask(page, "HMRC", "DWP", "tax-information", "fraud-prevention", "2006-01-01")
    assert page.locator("#ask-result [data-verdict]").inner_text() == "NOT ALLOWED"
    form = page.locator("#ask-result form.confirm")
    assert "Can you confirm this?" in form.inner_text()
    form.get_by_role("button", name="Ask again with this confirmed").click()  # nothing ticked: nothing asked
    assert page.locator("#ask-result [data-verdict]").inner_text() == "NOT ALLOWED"
    form.get_by_label("The authority of the Commissioners concerned", exact=False).check()
    form.get_by_role("button", name="Ask again with this confirmed").click()
    page.get_by_text("Taken as established, as you confirmed").wait_for()
    assert page.locator("#ask-result [data-verdict]").inner_text() == "ALLOWED"
    answer = page.locator("#ask-result").inner_text()
    assert "(commissioners-authority, required by gateway SSAA-1992-s122)" in answer
    assert not page.locator("#ask-result form.confirm").count()


def test_the_page_says_what_the_terminal_says(page, server):
    """The fixes and what the recipient may do next read as the engine's words (engine/render/words.py): a fix
    for the owner of an agreement, and the plain-words onward permission the page makes from JSON
    `basis.onward` the same as the terminal's."""
    from engine.render.words import onward_words

    _url, holder = server
    cases = [("DfES", "LSC", "provider-data", "research", "2005-06-23"),
             ("HESA", "HEFCE", "he-student-record", "funding", "2008-07-01"),
             ("HMRC", "Connexions", "child-benefit-data", "youth-support", "2006-06-23"),
             ("DfES", "LSC", "provider-data", "inspection", "2005-06-23")]
    answers = []
    for source, recipient, data, purpose, on in cases:
        _ask(page, source, recipient, data, purpose, on)
        answer = page.locator("#ask-result").inner_text()
        answers.append(answer)
        d = holder.current.policy.decide(source, recipient, data, purpose, on=dt.date.fromisoformat(on))
        for f in d.fixes:
            assert f.description in answer, (f.description, answer)
        if d.basis is not None:
            said = onward_words(d.basis.onward, d.recipient, d.source)
            assert f"What they may do with it next: {said}" in answer, (said, answer)
    assert "Ask the owner of agreement DFES-LSC-2005 (MIAP Programme Director, Department for Education and " \
           "Skills) to add the purpose research to it" in answers[0]
    assert "Ask the owner of agreement HESA-HEFCE-2005 (Head of Data Supply, Higher Education Statistics Agency) to " \
           "renew it to cover 2008-07-01" in answers[1]
    assert "pass it on only where HMRC could itself lawfully share it directly" in answers[2]
    assert "pass it on only to ALI, OfSTED, and only for funding" in answers[3]


def test_a_name_is_found_by_its_title_with_its_sensitivity(page, shots):
    box = page.locator("#ask-recipient")
    box.fill("Adult Learning")
    options = page.locator("#ask-recipient-list [role=option]")
    options.first.wait_for()
    assert options.first.inner_text().startswith("ALI")
    assert box.get_attribute("aria-expanded") == "true"
    page.keyboard.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"
    page.fill("#ask-data", "disability")
    data_option = page.locator("#ask-data-list [role=option]").first
    assert "special category" in data_option.inner_text()
    page.screenshot(path=str(shots / "web-search.png"))
    page.focus("#ask-recipient")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert box.input_value() == "ALI"
    assert page.locator("#ask-recipient-chosen").inner_text().startswith("Adult Learning Inspectorate (ALI)")


def test_a_title_typed_in_full_is_a_name_the_service_understands(page):
    _ask(page, "Jobcentre Plus", "Adult Learning Inspectorate", "Information about learning providers",
         "Inspection of education and training", "2005-06-23")
    assert page.locator("#ask-result [data-verdict]").inner_text() == "NOT ALLOWED"


def test_who_can_we_share_with_says_why_no_one(page, shots):
    page.click("#tab-who")
    page.fill("#who-org", "JCP")
    page.fill("#who-data", "provider-data")
    page.fill("#who-on", "2005-06-23")
    page.keyboard.press("Escape")
    page.click("#who-form button[type=submit]")
    page.get_by_text("No organisation may receive").wait_for()
    text = page.locator("#who-result").inner_text()
    assert "No one" in text and "one-way restriction" in text and "DWP-ONE-WAY-2005" in text
    page.screenshot(path=str(shots / "web-who.png"), full_page=True)


def test_what_changed_on_1_april_2007(page, shots):
    page.click("#tab-changes")
    page.fill("#changes-from", "2007-03-31")
    page.fill("#changes-to", "2007-04-02")
    page.click("#changes-form button[type=submit]")
    day = page.locator("#changes-result .day")
    day.wait_for()
    text = day.inner_text()
    assert text.startswith("1 April 2007")
    assert "ALI, OfSTED's functions passed to OFSTED-2007 and they ceased" in text
    assert "22 flows ended" in text and "12 began" in text
    assert page.locator("#changes-result table.ended-flows tbody tr").count() == 22
    page.screenshot(path=str(shots / "web-changes.png"), full_page=True)


def test_the_sharing_network_is_drawn_with_a_table_beside_it(page, shots):
    page.click("#tab-network")
    page.fill("#network-on", "2005-06-23")
    page.click("#network-form button[type=submit]")
    img = page.locator("#network-result img")
    img.wait_for()
    page.wait_for_function("document.querySelector('#network-result img').naturalWidth > 0")
    assert "The sharing network on 23 June 2005" in img.get_attribute("alt")
    assert page.locator("#network-result table.network-flows tbody tr").count() > 10
    page.screenshot(path=str(shots / "web-network.png"), full_page=True)


def test_the_decision_record_prints_with_the_bundle_hash_and_the_log_record(page, server, shots):
    _url, holder = server
    _ask(page, "JCP", "ALI", "provider-data", "inspection", "2005-06-23")
    page.click("#print-record")
    assert page.evaluate("window.__printed") == 1
    record = page.locator("#record")
    assert record.is_visible()
    text = record.inner_text()
    assert "Decision record" in text and "NOT ALLOWED" in text and "23 June 2005 (2005-06-23)" in text
    assert f"sha256:{holder.current.digest}" in text
    assert "Decision log record" in text and "sha256:" in text.split("Decision log record", 1)[1]
    page.emulate_media(media="print")
    assert not page.locator("#ask-form").is_visible()  # only the record is printed
    page.screenshot(path=str(shots / "web-record.png"), full_page=True)
    pdf = page.pdf()
    assert pdf[:5] == b"%PDF-"


# ---- the keyboard alone ----------------------------------------------------------------------------------


def test_everything_can_be_done_with_the_keyboard_alone(page):
    kb = page.keyboard
    kb.press("Tab")  # the skip link
    assert page.evaluate("document.activeElement.className") == "skip"
    kb.press("Tab")
    assert page.evaluate("document.activeElement.id") == "tab-ask"
    kb.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-who" and page.locator("#view-who").is_visible()
    kb.press("ArrowLeft")
    assert page.evaluate("document.activeElement.id") == "tab-ask" and page.locator("#view-ask").is_visible()

    def to(field_id: str) -> None:
        for _ in range(20):
            if page.evaluate("document.activeElement.id") == field_id:
                return
            kb.press("Tab")
        raise AssertionError(f"Tab never reached #{field_id}")

    for field_id, typed in (("ask-source", "Jobcentre"), ("ask-recipient", "Adult Learning"),
                            ("ask-data", "Information about learning providers"),
                            ("ask-purpose", "Inspection of education and training")):
        to(field_id)
        kb.type(typed)
        kb.press("ArrowDown")
        kb.press("Enter")  # choose the first match
    assert [page.input_value(f"#{i}") for i in ("ask-source", "ask-recipient", "ask-data", "ask-purpose")] == [
        "JCP", "ALI", "provider-data", "inspection"]
    to("ask-on")
    # The date field takes digits segment by segment, in the order of the machine's locale (month first in
    # Chromium's default): type them in one order, and if the date is not right, in the other.
    for digits in ("06232005", "23062005"):
        for _ in range(3):
            kb.press("Shift+Tab")  # back to the first segment (month or day), still inside the field
        while page.evaluate("document.activeElement.id") != "ask-on":
            kb.press("Tab")
        for ch in digits:
            kb.press(ch)
        if page.input_value("#ask-on") == "2005-06-23":
            break
    assert page.input_value("#ask-on") == "2005-06-23"
    kb.press("Enter")  # submits the form
    page.locator("#ask-result [data-verdict]").wait_for()
    assert page.locator("#ask-result [data-verdict]").inner_text() == "NOT ALLOWED"
    to("print-record")
    kb.press("Enter")
    assert page.evaluate("window.__printed") == 1


# ---- accessibility ---------------------------------------------------------------------------------------


def test_no_serious_or_critical_accessibility_violation_in_any_view(page):
    _no_serious_violations(page, "the empty page")
    _ask(page, "JCP", "ALI", "provider-data", "inspection", "2005-06-23")
    page.locator("#ask-result details summary").first.click()
    _no_serious_violations(page, "a NOT ALLOWED answer")
    page.fill("#ask-recipient", "Adult")
    page.locator("#ask-recipient-list [role=option]").first.wait_for()
    _no_serious_violations(page, "a picker's list open")
    page.keyboard.press("Escape")
    page.click("#tab-who")
    page.fill("#who-org", "LSC")
    page.fill("#who-data", "provider-data")
    page.fill("#who-on", "2005-06-23")
    page.keyboard.press("Escape")
    page.click("#who-form button[type=submit]")
    page.locator("#who-result table").wait_for()
    _no_serious_violations(page, "who can we share with")
    page.click("#tab-changes")
    page.fill("#changes-from", "2007-03-31")
    page.fill("#changes-to", "2007-04-02")
    page.click("#changes-form button[type=submit]")
    page.locator("#changes-result .day").wait_for()
    _no_serious_violations(page, "what changed")
    page.click("#tab-network")
    page.fill("#network-on", "2005-06-23")
    page.click("#network-form button[type=submit]")
    page.locator("#network-result img").wait_for()
    _no_serious_violations(page, "the sharing network")


# ---- hostile bundle values ---------------------------------------------------------------------------------

HOSTILE_REGISTER = """\
statutes:
  EVIL:
    title: "<img src=x onerror=window.__pwned=1>"
    url: "https://example.org/\\"><img/src=x/onerror=window.__pwned=2>"
    status: in-force
    commenced: 2000-01-01
"""

HOSTILE_POLICY = """
organisation A "<img src=x onerror=window.__pwned=3>" aka "<b>bold</b>"
organisation B "<script>window.__pwned=4</script>"
data d "<svg onload=window.__pwned=5>" personal
purpose p "<iframe srcdoc='<script>parent.__pwned=6</script>'>"
gateway G "<a href=javascript:window.__pwned=7>gateway</a>" {
  statute EVIL "<img src=x onerror=window.__pwned=8>"
  allows A -> B
  data d
  for p
  requires agreement
  lawful-basis public-task
}
agreement AG "<img src=x onerror=window.__pwned=9>" {
  from A to B
  data d
  for p
  under G
  valid 2000-01-01 to 2030-01-01
  review 2001-01-01
  owner "<img src=x onerror=window.__pwned=10>"
  onward none
  requires "<script>window.__pwned=11</script>"
}
"""


def test_values_from_a_hostile_bundle_are_shown_as_text_and_never_run(browser, tmp_path):
    from conftest import write_bundle

    bundle = write_bundle(tmp_path / "hostile", {"h.policy": HOSTILE_POLICY}, HOSTILE_REGISTER)
    with running(create_app(BundleHolder(bundle))) as url:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(url + "/")
        pg.get_by_text("Ready:").wait_for()
        _ask(pg, "A", "B", "d", "p", "2005-06-23")
        assert pg.locator("#ask-result [data-verdict]").inner_text() == "ALLOWED"
        answer = pg.locator("#ask-result").inner_text()
        assert "<img src=x onerror=window.__pwned=3>" in answer  # the title, shown literally
        assert "<script>window.__pwned=4</script>" in answer
        assert "owner: <img src=x onerror=window.__pwned=10>" in answer
        assert "<script>window.__pwned=11</script>" in answer
        for tag in ("img", "script", "svg", "iframe"):
            assert pg.locator(f"#ask-result {tag}").count() == 0, tag
        law = pg.locator("#ask-result a").first
        assert law.get_attribute("href").startswith("https://example.org/")
        assert "<" not in law.get_attribute("href")  # the URL is encoded, not broken out of
        pg.fill("#ask-recipient", "<scr")  # the picker's list shows the titles as text too
        pg.locator("#ask-recipient-list [role=option]").first.wait_for()
        assert pg.locator("#ask-recipient-list script, #ask-recipient-list img").count() == 0
        pg.keyboard.press("Escape")
        pg.click("#tab-network")
        pg.fill("#network-on", "2005-06-23")
        pg.click("#network-form button[type=submit]")
        pg.locator("#network-result img").wait_for()
        pg.wait_for_timeout(300)
        assert pg.evaluate("window.__pwned") is None
        context.close()
