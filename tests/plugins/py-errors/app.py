"""py-errors: a fixture for errors in Python plugins. `/boom` raises ZeroDivisionError, `/deny` reads storage it
was not granted (the refusal is raised as a CoralError and not caught), `/fine` answers `fine`; with config
`storage_in_setup = true`, setup reads storage too. None of these is a crash: the host logs each as a failed
event (or a refused load) with the exception's type, text and line."""

import coral_sdk as coral


class WitWorld(coral.Plugin):
    name = "py-errors"
    version = "0.1.0"
    description = "raises on purpose"
    capabilities = ["storage"]

    def init(self, config: dict) -> None:
        if config.get("storage_in_setup"):
            coral.get_text("settings")

    @coral.command("boom", description="divide by zero")
    def boom(self, cmd: coral.Command):
        cmd.reply(str(1 // (len(cmd.text) * 0)))

    @coral.command("deny", description="use storage without the grant")
    def deny(self, cmd: coral.Command):
        cmd.reply(coral.get_text("x") or "empty")

    @coral.command("fine", description="answer")
    def fine(self, cmd: coral.Command):
        cmd.reply("fine")
