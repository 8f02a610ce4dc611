// The VS Code client of `lawful lsp`: starts the server over stdio for .policy files and gateways.yaml, and
// adds one command of its own, "lawful: Decide a flow on a date", which asks for the flow and shows the
// decision text the server returns. Everything else (diagnostics, hover, completion, definition, references,
// rename, formatting, the test lenses) is the language server's.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;
let output;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("lawful");
  const [command, ...args] = config.get("command", ["lawful", "lsp"]);
  return { command, args, transport: TransportKind.stdio };
}

function clientOptions() {
  const config = vscode.workspace.getConfiguration("lawful");
  const options = { expiringWithin: config.get("expiringWithin", 90) };
  if (config.get("bundle")) options.bundle = config.get("bundle");
  if (config.get("on")) options.on = config.get("on");
  return {
    documentSelector: [
      { scheme: "file", language: "lawful-policy" },
      { scheme: "file", pattern: "**/gateways.yaml" },
    ],
    synchronize: {
      // files changed outside the editor (a git checkout) are analysed again
      fileEvents: vscode.workspace.createFileSystemWatcher("**/{*.policy,gateways.yaml}"),
    },
    initializationOptions: options,
    outputChannel: output,
    middleware: {
      // The server's commands answer with text: show it (a code lens "decide on DATE", a test block's results).
      executeCommand: async (command, args, next) => {
        const answer = await next(command, args);
        if (typeof answer === "string") {
          output.appendLine(answer);
          output.appendLine("");
          output.show(true);
        }
        return answer;
      },
    },
  };
}

async function start() {
  client = new LanguageClient("lawful", "lawful policy", serverOptions(), clientOptions());
  await client.start();
}

async function decideFlow() {
  const ask = (prompt, placeHolder, optional) =>
    vscode.window.showInputBox({ prompt, placeHolder, ignoreFocusOut: true }).then((v) => (v === undefined && !optional ? null : v));
  const source = await ask("Source organisation", "JCP");
  if (!source) return;
  const recipient = await ask("Recipient organisation", "ALI");
  if (!recipient) return;
  const data = await ask("Data category", "provider-data");
  if (!data) return;
  const purpose = await ask("Purpose (empty: every purpose)", "inspection", true);
  const on = await ask("Date, YYYY-MM-DD (empty: today)", "2005-06-23", true);
  const editor = vscode.window.activeTextEditor;
  const args = { source, recipient, data, purpose: purpose || null, on: on || null };
  if (editor) args.uri = editor.document.uri.toString();
  const answer = await client.sendRequest("workspace/executeCommand", { command: "lawful.decide", arguments: [args] });
  output.appendLine(answer);
  output.appendLine("");
  output.show(true);
}

async function activate(context) {
  output = vscode.window.createOutputChannel("lawful");
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("lawful.decideFlow", decideFlow),
    vscode.commands.registerCommand("lawful.restart", async () => {
      if (client) await client.stop();
      await start();
    }),
  );
  await start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
