"""coral_sdk: write Coral plugins in Python (componentize-py, the `coral:bot@0.4.0` world).

Subclass `Plugin` as `WitWorld` in your `app.py`; declare commands with `@command`; the host parses messages,
checks permissions and cooldowns, answers wrong usage, and calls your method with a `Command`. An exception your
code does not catch is a failed event (its type, text and line in the host log), never a crash: only traps and
budget overruns count toward quarantine.

    import coral_sdk as coral

    class WitWorld(coral.Plugin):
        name, version = "hello", "0.1.0"
        capabilities = ["storage"]

        @coral.command("hi", args=[coral.arg("who", coral.USER, optional=True)], description="say hi")
        def hi(self, cmd: coral.Command):
            cmd.reply(f"hi {cmd.arg(0) or cmd.user_id}")

Build: componentize-py -d wit -w plugin componentize app -p . -o out.wasm (this file beside app.py).
"""

import json
import traceback
from typing import Any, Callable, List, Optional

import wit_world
from componentize_py_types import Err
from wit_world.imports import bot as _bot
from wit_world.imports import command as _command
from wit_world.imports import log as _log
from wit_world.imports import schedule as _schedule
from wit_world.imports import storage as _storage
from wit_world.imports import types

# Argument kinds, permissions, scopes and flows, by their short names.
TEXT, INT, USER, REST = _command.ArgKind.TEXT, _command.ArgKind.INT, _command.ArgKind.USER, _command.ArgKind.REST
EVERYONE, GROUP_ADMIN = _command.Permission.EVERYONE, _command.Permission.GROUP_ADMIN
GROUP_OWNER, SUPERUSER = _command.Permission.GROUP_OWNER, _command.Permission.SUPERUSER
BOTH, GROUP, PRIVATE = _command.Scope.BOTH, _command.Scope.GROUP, _command.Scope.PRIVATE
NEXT, STOP = _command.Flow.NEXT, _command.Flow.STOP


class CoralError(Exception):
    """A call the host refused or that failed: `code` (an `ErrorCode` name), `retcode`, `message`."""

    def __init__(self, error: types.Error):
        self.code = error.code.name.lower().replace("_", "-")
        self.retcode = error.retcode
        self.message = error.message
        self.retry_after_ms = error.retry_after_ms
        super().__init__(f"{self.code} ({self.retcode}): {self.message}")


def _host(fn: Callable, *args):
    """Call a host function; its error value becomes a `CoralError`."""
    try:
        return fn(*args)
    except Err as e:
        if isinstance(e.value, types.Error):
            raise CoralError(e.value) from None
        raise


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _guard(what: str, fn: Callable):
    """Run a handler: any exception becomes the error value the host logs as a failed event."""
    try:
        return fn()
    except Err as e:
        value = e.value
        if isinstance(value, types.Error):
            raise Err(f"{what}: {CoralError(value)}{_where(e)}") from None
        raise Err(f"{what}: {value}") from None
    except CoralError as e:
        raise Err(f"{what}: {e}{_where(e)}") from None
    except Exception as e:  # an uncaught exception is a failed event, not a crash
        raise Err(f"{what}: {type(e).__name__}: {e}{_where(e)}") from None


# ---------------------------------------------------------------------------------------------------------------
# Sending, storage, timers, logs
# ---------------------------------------------------------------------------------------------------------------

def text(t: str) -> types.Segment:
    return types.Segment_Text(t)


def at(user_id: str) -> types.Segment:
    return types.Segment_At(user_id)


def _segments(message) -> List[types.Segment]:
    return [text(message)] if isinstance(message, str) else list(message)


def group(group_id: str) -> types.Chat:
    return types.Chat_Group(group_id)


def private(user_id: str) -> types.Chat:
    return types.Chat_Private(user_id)


def chat_of(m: types.MessageEvent) -> types.Chat:
    """The chat a message was sent in."""
    return group(m.group_id) if m.group_id is not None else private(m.user_id)


class Bot:
    """One bot account (`self_id`)."""

    def __init__(self, self_id: str):
        self.self_id = self_id

    def send(self, chat: types.Chat, message, at_sender: Optional[str] = None) -> str:
        """Send text (a `str`) or segments to a chat; the message id."""
        options = _bot.SendOptions(at_sender=at_sender, reply_to=None)
        return _host(_bot.send_msg, self.self_id, chat, _segments(message), options)

    def post(self, chat: types.Chat, message, at_sender: Optional[str] = None) -> None:
        """Send without waiting for the platform (`post-msg`): a refusal still raises at once; a failure after
        that is logged, counted and audited by the host. Use `send` for the message id."""
        options = _bot.SendOptions(at_sender=at_sender, reply_to=None)
        _host(_bot.post_msg, self.self_id, chat, _segments(message), options)

    def reply(self, to: types.MessageEvent, message, at_sender: bool = False) -> None:
        """Answer a message in its chat (free: no grant needed), optionally @-mentioning its sender. Posted: the
        handler does not wait for the platform (`reply_and_wait` does, and returns the message id)."""
        self.post(chat_of(to), message, to.user_id if at_sender else None)

    def reply_and_wait(self, to: types.MessageEvent, message, at_sender: bool = False) -> str:
        """Answer a message in its chat and wait for the platform; the message id."""
        return self.send(chat_of(to), message, to.user_id if at_sender else None)


def info(message: str) -> None:
    _log.log(_log.Level.INFO, message)


def warn(message: str) -> None:
    _log.log(_log.Level.WARN, message)


def get_text(key: str) -> Optional[str]:
    value = _host(_storage.get, key)
    return None if value is None else value.decode("utf-8")


def set_text(key: str, value: str, ttl_secs: Optional[int] = None) -> None:
    _host(_storage.set, key, value.encode("utf-8"), ttl_secs)


def get_json(key: str, default: Any = None) -> Any:
    value = get_text(key)
    return default if value is None else json.loads(value)


def set_json(key: str, value: Any, ttl_secs: Optional[int] = None) -> None:
    set_text(key, json.dumps(value), ttl_secs)


def delete(key: str) -> bool:
    return _host(_storage.delete, key)


def increment(key: str, delta: int = 1) -> int:
    return _host(_storage.increment, key, delta)


def every_cron(name: str, cron: str, payload: str = "") -> None:
    """A job on a cron line (UTC); it arrives at `on_timer`. Adding a name again replaces the job."""
    _host(_schedule.add, name, _schedule.When_Cron(cron), payload)


def after(name: str, secs: int, payload: str = "") -> None:
    _host(_schedule.add, name, _schedule.When_AfterSecs(secs), payload)


def cancel_job(name: str) -> bool:
    return _host(_schedule.cancel, name)


def is_superuser(user_id: str) -> bool:
    return _command.is_superuser(user_id)


def stop_here():
    """Return this from a handler to keep the event from plugins of lower priority."""
    return STOP


# ---------------------------------------------------------------------------------------------------------------
# Commands and prompts
# ---------------------------------------------------------------------------------------------------------------

def arg(name: str, kind=TEXT, optional: bool = False) -> _command.ArgSpec:
    """One argument: `TEXT` (a word), `INT`, `USER` (a mention or an id) or `REST` (the rest of the line)."""
    return _command.ArgSpec(name=name, kind=kind, optional=optional)


def command(name: str, *, aliases=(), args=(), description: str = "", permission=EVERYONE, scope=BOTH,
            user_cooldown: int = 0, group_cooldown: int = 0):
    """Declare the decorated method as the handler of a command the host parses."""
    spec = _command.CommandSpec(name=name, aliases=list(aliases), args=list(args), description=description,
                                permission=permission, scope=scope, user_cooldown_secs=user_cooldown,
                                group_cooldown_secs=group_cooldown)

    def mark(method):
        method._coral_command = spec
        return method
    return mark


def on_prompt(key: str):
    """Declare the decorated method as the handler of prompts asked with this key (a `PromptAnswer`)."""
    def mark(method):
        method._coral_prompt = key
        return method
    return mark


class Command:
    """A command someone ran, parsed and checked by the host."""

    def __init__(self, call: _command.Invocation):
        self.call = call
        self.name = call.command
        self.message = call.message
        self.text = call.text
        self.user_id = call.message.user_id
        self.group_id = call.message.group_id
        self.chat = chat_of(call.message)
        self.superuser = call.superuser
        self.role = call.role
        self.time = call.time
        self.bot = Bot(call.self_id)
        self.args = [None if a is None else a.value for a in call.args]

    def arg(self, i: int):
        """Argument `i` (a `str`, an `int`, or a user id `str`), or None when left out."""
        return self.args[i] if i < len(self.args) else None

    def reply(self, message, at_sender: bool = False) -> None:
        self.bot.reply(self.message, message, at_sender)

    def prompt(self, key: str, timeout_secs: int = 60) -> None:
        """Send this user's next message in this chat to the `@on_prompt(key)` handler (capability `prompt`)."""
        _host(_command.prompt, self.call.self_id, self.chat, self.user_id, timeout_secs, key)


class PromptAnswer:
    """A prompt's answer (`message` set, `text` its plain text) or its timeout (`timed_out`)."""

    def __init__(self, reply: _command.PromptReply):
        self.key = reply.key
        self.chat = reply.chat
        self.user_id = reply.user_id
        self.bot = Bot(reply.self_id)
        self.timed_out = isinstance(reply.outcome, _command.PromptOutcome_TimedOut)
        self.message = None if self.timed_out else reply.outcome.value
        self.text = "" if self.message is None else self.message.plain_text

    def say(self, message) -> str:
        return self.bot.send(self.chat, message)


class Plugin(wit_world.WitWorld):
    """Subclass this as `WitWorld`. Set `name`, `version`, `description`, `capabilities`, `events` (default: all;
    with commands: none but commands, prompts and timers), `config_schema` (JSON text); override `init`,
    `on_message`, `on_notice`, `on_request`, `on_timer` as needed. A handler returns nothing (or `STOP`)."""

    name = "plugin"
    version = "0.1.0"
    description = ""
    capabilities: List[str] = []
    events: List[types.EventCategory] = []
    config_schema: Optional[str] = None

    # Your hooks.
    def init(self, config: dict) -> None:
        pass

    def on_message(self, bot: Bot, message: types.MessageEvent):
        pass

    def on_notice(self, bot: Bot, notice):
        pass

    def on_request(self, bot: Bot, request):
        pass

    def on_timer(self, timer: types.TimerEvent):
        pass

    # The world's exports.
    def metadata(self) -> types.PluginMetadata:
        return types.PluginMetadata(name=self.name, version=self.version, description=self.description,
                                    capabilities=list(self.capabilities), events=list(self.events),
                                    config_schema=self.config_schema)

    def _marked(self, attribute: str):
        for cls in type(self).__mro__:
            for member in vars(cls).values():
                if callable(member) and hasattr(member, attribute):
                    yield member

    def commands(self) -> List[_command.CommandSpec]:
        return [m._coral_command for m in self._marked("_coral_command")]

    def _me(self) -> "Plugin":
        # componentize-py makes a new object for each export call: state set in `init` lives on the one `setup`
        # was called on, and every handler runs on that one.
        shared = type(self).__dict__.get("_coral_shared")
        if shared is None:
            type(self)._coral_shared = self
            return self
        return shared

    def setup(self, config_json: str) -> None:
        type(self)._coral_shared = self
        _guard("setup", lambda: self.init(json.loads(config_json or "{}")))

    def on_event(self, event: types.Event) -> _command.Flow:
        self = self._me()

        def run():
            kind, bot = event.kind, Bot(event.self_id)
            if isinstance(kind, types.EventKind_Message):
                return self.on_message(bot, kind.value)
            if isinstance(kind, types.EventKind_Notice):
                return self.on_notice(bot, kind.value)
            if isinstance(kind, types.EventKind_Request):
                return self.on_request(bot, kind.value)
            if isinstance(kind, types.EventKind_Timer):
                return self.on_timer(kind.value)
            return None
        return STOP if _guard("on-event", run) is STOP else NEXT

    def on_command(self, call: _command.Invocation) -> _command.Flow:
        self = self._me()
        for method in self._marked("_coral_command"):
            if method._coral_command.name == call.command:
                flow = _guard(f"/{call.command}", lambda: method(self, Command(call)))
                return STOP if flow is STOP else NEXT
        raise Err(f"no handler for command {call.command!r}")

    def on_prompt(self, reply: _command.PromptReply) -> None:
        self = self._me()
        for method in self._marked("_coral_prompt"):
            if method._coral_prompt == reply.key:
                _guard(f"prompt {reply.key}", lambda: method(self, PromptAnswer(reply)))
                return
        raise Err(f"no handler for prompt {reply.key!r}")
