// coral_sdk.js: write Coral plugins in JavaScript (componentize-qjs, the `coral:bot@0.4.0` world).
//
// `definePlugin({...})` returns the six exports; export them from your `app.js`:
//
//     import * as coral from "./coral_sdk.js";
//     export const { metadata, setup, commands, onEvent, onCommand, onPrompt } = coral.definePlugin({
//         name: "hello", version: "0.1.0", capabilities: ["storage"],
//         commands: [{ name: "hi", args: [coral.arg("who", coral.USER, true)], description: "say hi",
//                      run: (cmd) => cmd.reply(`hi ${cmd.arg(0) ?? cmd.userId}`) }],
//     });
//
// The host parses commands, checks permissions and cooldowns and answers wrong usage. Anything a handler throws
// (an Error, a refused host call, a string) becomes a failed event with its text in the host log, never a trap.
// Storage text and JSON helpers encode UTF-8 themselves (QuickJS here has no TextEncoder).

import bot from "coral:bot/bot@0.4.0";
import command from "coral:bot/command@0.4.0";
import log from "coral:bot/log@0.4.0";
import schedule from "coral:bot/schedule@0.4.0";
import storage from "coral:bot/storage@0.4.0";

export const TEXT = "text", INT = "int", USER = "user", REST = "rest";
export const EVERYONE = "everyone", GROUP_ADMIN = "group-admin", GROUP_OWNER = "group-owner", SUPERUSER = "superuser";
export const BOTH = "both", GROUP = "group", PRIVATE = "private";
export const NEXT = "next", STOP = "stop";

/** A call the host refused or that failed: `code` (`permission-denied`, …), `retcode`, `message`. */
export class CoralError extends Error {
    constructor(error) {
        super(`${error.code} (${error.retcode}): ${error.message}`);
        this.name = "CoralError";
        this.code = error.code;
        this.retcode = error.retcode;
        this.retryAfterMs = error.retryAfterMs ?? null;
    }
}

/** Call a host function; its error value becomes a `CoralError`. */
function host(fn) {
    try {
        return fn();
    } catch (e) {
        if (e && e.payload && typeof e.payload.code === "string") throw new CoralError(e.payload);
        throw e;
    }
}

function describe(what, e) {
    if (typeof e === "string") return `${what}: ${e}`;
    if (e instanceof CoralError) return `${what}: ${e.message}`;
    if (e && e.payload && typeof e.payload.code === "string") return `${what}: ${new CoralError(e.payload).message}`;
    if (e instanceof Error) return `${what}: ${e.name}: ${e.message}`;
    return `${what}: ${String(e)}`;
}

/** Run a handler: whatever it throws becomes the error text the host logs (a failed event, not a crash). */
function guard(what, fn) {
    try {
        return fn();
    } catch (e) {
        throw describe(what, e);
    }
}

// Messages and chats.
export const text = (t) => ({ tag: "text", val: t });
export const at = (userId) => ({ tag: "at", val: userId });
export const group = (id) => ({ tag: "group", val: id });
export const privateChat = (id) => ({ tag: "private", val: id });
export const chatOf = (m) => (m.messageType === "group" && m.groupId !== null ? group(m.groupId) : privateChat(m.userId));
const segments = (message) => (typeof message === "string" ? [text(message)] : message);

/** One bot account. */
export class Bot {
    constructor(selfId) {
        this.selfId = selfId;
    }
    /** Send text (a string) or segments to a chat; the message id. */
    send(chat, message, atSender = null) {
        return host(() => bot.sendMsg(this.selfId, chat, segments(message), { atSender, replyTo: null }));
    }
    /** Send without waiting for the platform (`post-msg`): a refusal still throws at once; a failure after that
     *  is logged, counted and audited by the host. Use `send` for the message id. */
    post(chat, message, atSender = null) {
        host(() => bot.postMsg(this.selfId, chat, segments(message), { atSender, replyTo: null }));
    }
    /** Answer a message in its chat (free: no grant needed), optionally @-mentioning its sender. Posted: the
     *  handler does not wait for the platform (`replyAndWait` does, and returns the message id). */
    reply(m, message, atSender = false) {
        this.post(chatOf(m), message, atSender ? m.userId : null);
    }
    /** Answer a message in its chat and wait for the platform; the message id. */
    replyAndWait(m, message, atSender = false) {
        return this.send(chatOf(m), message, atSender ? m.userId : null);
    }
}

// UTF-8 by hand: QuickJS under --stub-wasi has no TextEncoder/TextDecoder.
export function utf8Encode(s) {
    const out = [];
    for (const ch of s) {
        const c = ch.codePointAt(0);
        if (c < 0x80) out.push(c);
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
}

export function utf8Decode(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; ) {
        const b = bytes[i];
        const n = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
        let c = n === 1 ? b : b & (0xff >> (n + 1));
        for (let k = 1; k < n; k++) c = (c << 6) | (bytes[i + k] & 63);
        s += String.fromCodePoint(c);
        i += n;
    }
    return s;
}

// Storage (capability `storage`), timers (`schedule`), logs, superusers.
export function getText(key) {
    const value = host(() => storage.get(key));
    return value === null || value === undefined ? null : utf8Decode(value);
}
export const setText = (key, value, ttlSecs = null) => host(() => storage.set(key, utf8Encode(value), ttlSecs));
export function getJson(key, fallback = null) {
    const value = getText(key);
    return value === null ? fallback : JSON.parse(value);
}
export const setJson = (key, value, ttlSecs = null) => setText(key, JSON.stringify(value), ttlSecs);
export const remove = (key) => host(() => storage.delete(key));
export const increment = (key, delta = 1) => host(() => storage.increment(key, delta));
/** A job on a cron line (UTC, or `CRON_TZ=<zone> …`); it arrives at `onTimer`. */
export const cron = (name, line, payload = "") => host(() => schedule.add(name, { tag: "cron", val: line }, payload));
export const after = (name, secs, payload = "") =>
    host(() => schedule.add(name, { tag: "after-secs", val: secs }, payload));
export const info = (message) => log.log("info", message);
export const warn = (message) => log.log("warn", message);
export const isSuperuser = (userId) => command.isSuperuser(userId);

/** One argument: `TEXT` (a word), `INT`, `USER` (a mention or an id) or `REST` (the rest of the line). */
export const arg = (name, kind = TEXT, optional = false) => ({ name, kind, optional });

/** A command someone ran, parsed and checked by the host. */
export class Command {
    constructor(call) {
        this.call = call;
        this.name = call.command;
        this.message = call.message;
        this.text = call.text;
        this.userId = call.message.userId;
        this.groupId = call.message.groupId;
        this.chat = chatOf(call.message);
        this.superuser = call.superuser;
        this.role = call.role;
        this.time = call.time;
        this.bot = new Bot(call.selfId);
        this.args = call.args.map((a) => (a === null || a === undefined ? null : a.val));
    }
    /** Argument `i` (a string, a number, or a user id string), or null when left out. */
    arg(i) {
        return this.args[i] ?? null;
    }
    reply(message, atSender = false) {
        this.bot.reply(this.message, message, atSender);
    }
    /** Send this user's next message in this chat to the `prompts[key]` handler (capability `prompt`). */
    prompt(key, timeoutSecs = 60) {
        host(() => command.prompt(this.call.selfId, this.chat, this.userId, timeoutSecs, key));
    }
}

/** A prompt's answer (`message`, `text`) or its timeout (`timedOut`). */
export class PromptAnswer {
    constructor(reply) {
        this.key = reply.key;
        this.chat = reply.chat;
        this.userId = reply.userId;
        this.bot = new Bot(reply.selfId);
        this.timedOut = reply.outcome.tag === "timed-out";
        this.message = this.timedOut ? null : reply.outcome.val;
        this.text = this.message === null ? "" : this.message.plainText;
    }
    say(message) {
        return this.bot.send(this.chat, message);
    }
}

/**
 * The plugin's exports from one description: `name`, `version`, `description`, `capabilities`, `events` (category
 * names; with commands, leave it out to get only commands, prompts and timers), `configSchema` (JSON text), `init(config)`,
 * `commands` (`{ name, aliases, args, description, permission, scope, userCooldown, groupCooldown, run(cmd) }`),
 * `prompts` (`{ key: (answer) => … }`), `onMessage(bot, message)`, `onNotice(bot, notice)`,
 * `onRequest(bot, request)`, `onTimer(timer)`. A handler returns nothing, or `STOP`.
 */
export function definePlugin(p) {
    const declared = (p.commands ?? []).map((c) => ({
        spec: {
            name: c.name,
            aliases: c.aliases ?? [],
            args: c.args ?? [],
            description: c.description ?? "",
            permission: c.permission ?? EVERYONE,
            scope: c.scope ?? BOTH,
            userCooldownSecs: c.userCooldown ?? 0,
            groupCooldownSecs: c.groupCooldown ?? 0,
        },
        run: c.run,
    }));
    const flow = (result) => (result === STOP ? STOP : NEXT);
    return {
        metadata: () => ({
            name: p.name,
            version: p.version ?? "0.1.0",
            description: p.description ?? "",
            capabilities: p.capabilities ?? [],
            events: p.events ?? [],
            configSchema: p.configSchema ?? null,
        }),
        setup: (configJson) => {
            guard("setup", () => p.init && p.init(JSON.parse(configJson || "{}")));
        },
        commands: () => declared.map((d) => d.spec),
        onEvent: (event) =>
            flow(
                guard("on-event", () => {
                    const kind = event.kind, b = new Bot(event.selfId);
                    if (kind.tag === "message" && p.onMessage) return p.onMessage(b, kind.val);
                    if (kind.tag === "notice" && p.onNotice) return p.onNotice(b, kind.val);
                    if (kind.tag === "request" && p.onRequest) return p.onRequest(b, kind.val);
                    if (kind.tag === "timer" && p.onTimer) return p.onTimer(kind.val);
                    return NEXT;
                }),
            ),
        onCommand: (call) => {
            const found = declared.find((d) => d.spec.name === call.command);
            if (!found) throw `no handler for command ${call.command}`;
            return flow(guard(`/${call.command}`, () => found.run(new Command(call))));
        },
        onPrompt: (reply) => {
            const handler = (p.prompts ?? {})[reply.key];
            if (!handler) throw `no handler for prompt ${reply.key}`;
            guard(`prompt ${reply.key}`, () => handler(new PromptAnswer(reply)));
        },
    };
}
