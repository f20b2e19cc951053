// js-errors: a fixture for errors in JavaScript plugins. `/boom` reads a property of null (a TypeError), `/deny`
// reads storage it was not granted (the refusal is thrown as a CoralError and not caught), `/fine` answers `fine`;
// with config `storage_in_setup = true`, setup reads storage too. None of these is a crash: the host logs each
// as a failed event (or a refused load) with the error's name and text.

import * as coral from "./coral_sdk.js";

export const { metadata, setup, commands, onEvent, onCommand, onPrompt } = coral.definePlugin({
    name: "js-errors",
    capabilities: ["storage"],
    init: (config) => {
        if (config.storage_in_setup) coral.getText("settings");
    },
    commands: [
        { name: "boom", run: (cmd) => cmd.reply(String(null.length)) },
        { name: "deny", run: (cmd) => cmd.reply(coral.getText("x") ?? "empty") },
        { name: "fine", run: (cmd) => cmd.reply("fine") },
    ],
});
