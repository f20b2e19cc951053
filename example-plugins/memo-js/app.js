// memo: a Coral plugin in JavaScript (componentize-qjs 0.4.5, QuickJS).
//
// Commands, in private chats and groups:
//   ping <x>                  answers `pong <x> (javascript)`
//   remember <key> <anything> keeps every segment after the key (text, faces, images, @-mentions, …)
//   recall <key>              replays it, quoting your message (and @-ing you in groups)
//   recall <key> to <group>   sends it into another group (needs the `send` grant; a denial is shown)
//   forget <key>              drops it
//   memos                     lists the keys
// A `group_recall` notice drops the memo the recalled message created. A friend request whose comment equals
// the configured `passphrase` is approved (needs the `handle-request` grant).
// Memos are shared by every chat and live in this instance's memory: they are gone when the host restarts or
// reloads the plugin, or replaces a faulted instance.

import bot from "coral:bot/bot@0.4.0";
import log from "coral:bot/log@0.4.0";

/** key → { content: segment[], messageId, groupId } */
const memos = new Map();
let passphrase = null;

export function metadata() {
    return {
        name: "memo",
        version: "0.1.0",
        description: "remembers messages with their pictures and faces, written in JavaScript",
        capabilities: ["send", "handle-request"],
        events: ["message", "notice", "request"],
    };
}

export function setup(configJson) {
    const config = JSON.parse(configJson);
    if (config.passphrase !== undefined && typeof config.passphrase !== "string") {
        throw "config: `passphrase` must be a string";
    }
    passphrase = config.passphrase ?? null;
    log.log("info", `memo (javascript) ready; friend requests ${passphrase === null ? "ignored" : "approved with the passphrase"}`);
}

/** It reads its words from plain messages itself: no host-parsed commands. */
export function commands() {
    return [];
}

export function onEvent(event) {
    const kind = event.kind;
    if (kind.tag === "message") {
        onMessage(event.selfId, kind.val);
    } else if (kind.tag === "notice" && kind.val.tag === "group-recall") {
        onGroupRecall(kind.val.val);
    } else if (kind.tag === "request" && kind.val.tag === "friend") {
        onFriendRequest(event.selfId, kind.val.val);
    }
    return "next"; // lower-priority plugins see the event too
}

/** Never called: it declares no commands. */
export function onCommand(call) {
    return "next";
}

/** Never called: it asks no prompts. */
export function onPrompt(reply) {}

const text = (t) => ({ tag: "text", val: t });

function chatOf(m) {
    return m.messageType === "group" && m.groupId !== null
        ? { tag: "group", val: m.groupId }
        : { tag: "private", val: m.userId };
}

/** Answer `m` in its chat, quoting it (and @-ing the sender in a group). */
function reply(selfId, m, segments) {
    const atSender = m.messageType === "group" ? m.userId : null;
    bot.postMsg(selfId, chatOf(m), segments, { atSender, replyTo: m.messageId });
}

/**
 * Split a message into its command words and the segments after them. Leading quotes and @-mentions (how a
 * group member addresses the bot) are skipped; the command is read from the first text segment.
 * Returns { words, rest } where `words` are the first `count` words and `rest` every segment after them.
 */
function command(message, count) {
    let i = 0;
    while (i < message.length && (message[i].tag === "reply" || message[i].tag === "at")) i++;
    if (i >= message.length || message[i].tag !== "text") return null;
    let body = message[i].val.replace(/^\s+/, "");
    const words = [];
    while (words.length < count) {
        const match = /^(\S+)\s*/.exec(body);
        if (!match) break;
        words.push(match[1]);
        body = body.slice(match[0].length);
    }
    const rest = body === "" ? message.slice(i + 1) : [text(body), ...message.slice(i + 1)];
    return { words, rest };
}

function onMessage(selfId, m) {
    if (m.selfSent) return;
    const parsed = command(m.message, 2);
    if (!parsed || parsed.words.length === 0) return;
    const [verb, key] = parsed.words;
    switch (verb.toLowerCase()) {
        case "ping": {
            const arg = m.plainText.replace(/^\S+\s*/, "");
            reply(selfId, m, [text(arg === "" ? "pong (javascript)" : `pong ${arg} (javascript)`)]);
            break;
        }
        case "remember":
            if (!key || parsed.rest.length === 0) {
                reply(selfId, m, [text("usage: remember <key> <anything>")]);
                return;
            }
            memos.set(key, { content: parsed.rest, messageId: m.messageId, groupId: m.groupId });
            const n = parsed.rest.length;
            reply(selfId, m, [text(`remembered ${key} (${n} segment${n === 1 ? "" : "s"})`)]);
            break;
        case "recall":
            if (!key) {
                reply(selfId, m, [text("usage: recall <key> [to <group>]")]);
            } else {
                recall(selfId, m, key, parsed.rest);
            }
            break;
        case "forget":
            if (key && memos.delete(key)) {
                reply(selfId, m, [text(`forgot ${key}`)]);
            } else {
                reply(selfId, m, [text(`no memo named ${key ?? ""}`.trim())]);
            }
            break;
        case "memos": {
            const keys = [...memos.keys()].sort();
            reply(selfId, m, [text(keys.length === 0 ? "no memos" : `memos: ${keys.join(", ")}`)]);
            break;
        }
    }
}

function recall(selfId, m, key, rest) {
    const memo = memos.get(key);
    if (!memo) {
        reply(selfId, m, [text(`no memo named ${key}`)]);
        return;
    }
    const target = /^\s*to\s+(\S+)\s*$/.exec(rest.length === 1 && rest[0].tag === "text" ? rest[0].val : "");
    if (!target) {
        reply(selfId, m, memo.content);
        return;
    }
    try {
        bot.sendGroupMsg(selfId, target[1], memo.content);
        reply(selfId, m, [text(`sent ${key} to group ${target[1]}`)]);
    } catch (e) {
        // A refused call arrives as an exception whose `payload` is the WIT `error` record.
        reply(selfId, m, [text(`cannot send there: ${describe(e)}`)]);
    }
}

/** `permission-denied (102)` for a host error, the message for anything else. */
function describe(e) {
    const error = e && e.payload;
    if (error && typeof error.code === "string") return `${error.code} (${error.retcode})`;
    return String(e);
}

function onGroupRecall(notice) {
    for (const [key, memo] of memos) {
        if (memo.messageId === notice.messageId && memo.groupId === notice.groupId) {
            memos.delete(key);
            log.log("info", `memo ${key} dropped: its message ${notice.messageId} was recalled`);
        }
    }
}

function onFriendRequest(selfId, request) {
    if (passphrase === null || request.comment.trim() !== passphrase) {
        log.log("info", `friend request from ${request.userId} left unanswered: its comment is not the passphrase`);
        return;
    }
    try {
        bot.setFriendAddRequest(selfId, request.flag, true, "");
        log.log("info", `friend request from ${request.userId} approved`);
    } catch (e) {
        log.log("warn", `could not approve ${request.userId}: ${describe(e)}`);
    }
}
