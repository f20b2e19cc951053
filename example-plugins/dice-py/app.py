"""dice: a Coral plugin in Python (componentize-py).

Commands, in private chats and groups:
  roll NdM        roll N dice with M sides (e.g. `roll 2d6`), answered quoting your message
  choose a b c    pick one of the options
  ping <x>        answers `pong <x> (python)`
New group members (a `group_increase` notice) are welcomed with an @-mention.
Asking it to `mute me` tries a ban and shows how a denied grant looks from Python.
Grants: `send` beyond replies is not needed; `ban` only for the `mute me` demo.
"""

import random

import wit_world
from componentize_py_types import Err
from wit_world.imports import bot, command, log, types


def text(t: str) -> types.Segment:
    return types.Segment_Text(t)


def chat_of(m: types.MessageEvent) -> types.Chat:
    if m.message_type == types.ChatType.GROUP and m.group_id is not None:
        return types.Chat_Group(m.group_id)
    return types.Chat_Private(m.user_id)


def reply(self_id: str, m: types.MessageEvent, segments) -> None:
    options = bot.SendOptions(at_sender=None, reply_to=m.message_id)
    bot.post_msg(self_id, chat_of(m), segments, options)


def roll(spec: str):
    count, _, sides = spec.lower().partition("d")
    n, s = int(count or "1"), int(sides)
    if not (1 <= n <= 20 and 1 <= s <= 1000):
        raise ValueError("use 1-20 dice with 1-1000 sides")
    return [random.randint(1, s) for _ in range(n)]


class WitWorld(wit_world.WitWorld):
    def metadata(self) -> types.PluginMetadata:
        return types.PluginMetadata(
            name="dice",
            version="0.1.0",
            description="dice rolls, choices and welcomes, written in Python",
            capabilities=["send", "ban"],
            events=[types.EventCategory.MESSAGE, types.EventCategory.NOTICE],
            config_schema=None,
        )

    def setup(self, config_json: str) -> None:
        log.log(log.Level.INFO, "dice (python) ready")

    def commands(self) -> list[command.CommandSpec]:
        return []  # it reads its words from plain messages itself: no host-parsed commands

    def on_event(self, event: types.Event) -> command.Flow:
        kind = event.kind
        if isinstance(kind, types.EventKind_Message):
            self.on_message(event.self_id, kind.value)
        elif isinstance(kind, types.EventKind_Notice) and isinstance(kind.value, types.NoticeEvent_GroupIncrease):
            change = kind.value.value
            welcome = [types.Segment_At(change.user_id), text(" welcome! Try `roll 2d6`.")]
            bot.send_group_msg(event.self_id, change.group_id, welcome)
        return command.Flow.NEXT  # lower-priority plugins see the event too

    def on_command(self, call: command.Invocation) -> command.Flow:
        return command.Flow.NEXT  # never called: it declares no commands

    def on_prompt(self, reply: command.PromptReply) -> None:
        pass  # never called: it asks no prompts

    def on_message(self, self_id: str, m: types.MessageEvent) -> None:
        words = m.plain_text.split()
        if not words:
            return
        command, args = words[0].lower(), words[1:]
        if command == "ping":
            reply(self_id, m, [text(f"pong {' '.join(args)} (python)".replace("  ", " "))])
        elif command == "roll" and args:
            try:
                dice = roll(args[0])
            except ValueError as e:
                reply(self_id, m, [text(f"roll: {e}")])
                return
            shown = " + ".join(str(d) for d in dice)
            reply(self_id, m, [types.Segment_Dice(), text(f" {args[0]}: {shown} = {sum(dice)}")])
        elif command == "choose" and args:
            reply(self_id, m, [text(f"I choose {random.choice(args)}")])
        elif command == "mute" and args == ["me"] and m.group_id is not None:
            try:
                bot.set_group_ban(self_id, m.group_id, m.user_id, 60)
                reply(self_id, m, [text("muted for a minute")])
            except Err as e:
                error: types.Error = e.value
                reply(self_id, m, [text(f"cannot mute: {error.code.name.lower()} ({error.retcode})")])
