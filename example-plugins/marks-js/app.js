// marks: the sign-in example in JavaScript with coral_sdk.js (Rust: example-plugins/signin, Python: checkin-py).
//
// `/mark` (or `签`) marks you present for the day: 10 points plus your streak; `/marks [@who]` shows points;
// `/unmark <@who>` (group admins) clears someone's; `/puzzle` asks you a question and takes *your* next message in
// that chat as the answer. Parsing, the cooldown, the admin check and the pending question are the host's.
//
//     [plugins.marks]
//     grants = ["storage", "prompt"]
//     [plugins.marks.config]
//     puzzle_secs = 30

import * as coral from "./coral_sdk.js";

let puzzleSecs = 30;
const key = (chat, userId) => (chat.tag === "group" ? `${chat.val}:${userId}` : `p:${userId}`);
const load = (k) => coral.getJson(k, { points: 0, streak: 0, day: 0 });

export const { metadata, setup, commands, onEvent, onCommand, onPrompt } = coral.definePlugin({
    name: "marks",
    version: "0.1.0",
    description: "daily marks with points, streaks and a puzzle (JavaScript)",
    capabilities: ["storage", "prompt"],
    init: (config) => {
        puzzleSecs = config.puzzle_secs ?? 30;
    },
    commands: [
        {
            name: "mark", aliases: ["签"], description: "mark yourself present today",
            scope: coral.GROUP, userCooldown: 3,
            run: (cmd) => {
                const k = key(cmd.chat, cmd.userId), r = load(k), today = Math.floor(cmd.time / 86400);
                if (r.day === today) return cmd.reply(`already marked today (${r.points} points)`, true);
                r.streak = r.day === today - 1 ? r.streak + 1 : 1;
                r.day = today;
                r.points += 10 + r.streak - 1;
                coral.setJson(k, r);
                cmd.reply(`marked: streak ${r.streak} day(s), ${r.points} points`, true);
            },
        },
        {
            name: "marks", args: [coral.arg("who", coral.USER, true)], description: "show points",
            run: (cmd) => {
                const who = cmd.arg(0) ?? cmd.userId;
                cmd.reply(`${who} has ${load(key(cmd.chat, who)).points} points`);
            },
        },
        {
            name: "unmark", args: [coral.arg("who", coral.USER)], description: "clear someone's points",
            permission: coral.GROUP_ADMIN, scope: coral.GROUP,
            run: (cmd) => {
                coral.remove(key(cmd.chat, cmd.arg(0)));
                cmd.reply(`points of ${cmd.arg(0)} cleared`);
            },
        },
        {
            name: "puzzle", description: "solve a puzzle for 5 points", userCooldown: 5,
            run: (cmd) => {
                cmd.prompt("puzzle", puzzleSecs);
                cmd.reply(`what gets wetter the more it dries? (${puzzleSecs} s)`, true);
            },
        },
    ],
    prompts: {
        puzzle: (answer) => {
            if (answer.timedOut) return answer.say(`time's up, ${answer.userId}: a towel`);
            if (!answer.text.toLowerCase().includes("towel")) return answer.say(`no, ${answer.userId}: a towel`);
            const k = key(answer.chat, answer.userId), r = load(k);
            r.points += 5;
            coral.setJson(k, r);
            answer.say(`right, ${answer.userId}: 5 points (${r.points} in all)`);
        },
    },
});
