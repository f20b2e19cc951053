"""checkin: the sign-in example in Python with coral_sdk (the Rust one is example-plugins/signin).

`/checkin` (or `打卡`) checks you in for the day: 10 points plus your streak; `/score [@who]` shows points;
`/wipe <@who>` (group admins) clears someone's; `/riddle` asks you a question and takes *your* next message in
that chat as the answer. Splitting text, the cooldown, the admin check and the pending question are the host's.

    [plugins.checkin]
    grants = ["storage", "prompt"]
    [plugins.checkin.config]
    riddle_secs = 30
"""

import coral_sdk as coral


def key(cmd_chat, user_id: str) -> str:
    return f"{cmd_chat.value}:{user_id}" if isinstance(cmd_chat, coral.types.Chat_Group) else f"p:{user_id}"


class WitWorld(coral.Plugin):
    name = "checkin"
    version = "0.1.0"
    description = "daily check-in with points, streaks and a riddle (Python)"
    capabilities = ["storage", "prompt"]

    def init(self, config: dict) -> None:
        self.riddle_secs = int(config.get("riddle_secs", 30))

    @coral.command("checkin", aliases=["打卡"], description="check in for today", scope=coral.GROUP, user_cooldown=3)
    def checkin(self, cmd: coral.Command):
        k = key(cmd.chat, cmd.user_id)
        record = coral.get_json(k, {"points": 0, "streak": 0, "day": 0})
        today = cmd.time // 86400
        if record["day"] == today:
            cmd.reply(f"already checked in today ({record['points']} points)", at_sender=True)
            return
        record["streak"] = record["streak"] + 1 if record["day"] == today - 1 else 1
        record["day"] = today
        record["points"] += 10 + record["streak"] - 1
        coral.set_json(k, record)
        cmd.reply(f"checked in: streak {record['streak']} day(s), {record['points']} points", at_sender=True)

    @coral.command("score", args=[coral.arg("who", coral.USER, optional=True)], description="show points")
    def score(self, cmd: coral.Command):
        who = cmd.arg(0) or cmd.user_id
        points = coral.get_json(key(cmd.chat, who), {"points": 0})["points"]
        cmd.reply(f"{who} has {points} points")

    @coral.command("wipe", args=[coral.arg("who", coral.USER)], description="clear someone's points",
                   permission=coral.GROUP_ADMIN, scope=coral.GROUP)
    def wipe(self, cmd: coral.Command):
        coral.delete(key(cmd.chat, cmd.arg(0)))
        cmd.reply(f"points of {cmd.arg(0)} cleared")

    @coral.command("riddle", description="answer a riddle for 5 points", user_cooldown=5)
    def riddle(self, cmd: coral.Command):
        cmd.prompt("riddle", self.riddle_secs)
        cmd.reply(f"what has keys but opens no locks? ({self.riddle_secs} s)", at_sender=True)

    @coral.on_prompt("riddle")
    def answered(self, answer: coral.PromptAnswer):
        if answer.timed_out:
            answer.say(f"time's up, {answer.user_id}: a piano")
        elif "piano" in answer.text.lower():
            k = key(answer.chat, answer.user_id)
            record = coral.get_json(k, {"points": 0, "streak": 0, "day": 0})
            record["points"] += 5
            coral.set_json(k, record)
            answer.say(f"right, {answer.user_id}: 5 points ({record['points']} in all)")
        else:
            answer.say(f"no, {answer.user_id}: a piano")
