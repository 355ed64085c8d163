"""Classic monit files, as real BOSH releases ship them, parsed into plain data.

Only what the agent acts on is kept: ``check process NAME with pidfile PATH``, ``start
program``/``stop program`` (argv split the way monit splits the quoted string, ``as uid U
and gid G``, ``with timeout N seconds``), ``group`` and ``depends on``. The rest of what
release monit files say is accepted and recorded as ignored, because evaluating it needs
monit's resource tests which the agent does not run: ``if ... then ...`` rules (``else
if`` too), ``mode active|passive|manual``, ``every N cycles``/``every "cron"``, ``restart
program`` (a vanished process is restarted by its start program), ``alert``/``noalert``.

Other service types (``check file``, ``check host``, ``check system``, ``check
filesystem``, ``check directory``, ``check fifo``, ``check program``, ``check network``)
are refused: they exist only to trigger actions on conditions the agent never tests, and
accepting them silently would let a release believe something is watched that is not.

Pure functions of the text (stdlib only: the agent is a zipapp), so the director uses the
same parser to refuse a bad monit file at render time, before any VM changes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 30.0  # monit's default for start and stop programs
_NOISE = {"with", "and", "as", "on", "only", "using", "use", "is", "the", "has", "that", "than",
          "for", "of", "=", "was", "are", "within", "but"}
_STATEMENTS = {"check", "start", "stop", "restart", "group", "depends", "if", "mode", "every",
               "alert", "noalert", "set", "include"}
_ACTIONS = {"alert", "restart", "start", "stop", "unmonitor", "monitor", "exec", "timeout"}
_OTHER_TYPES = {"file", "host", "system", "filesystem", "directory", "fifo", "program",
                "network", "device"}
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class MonitSyntaxError(ValueError):
    """A malformed classic monit file; ``line`` is 1-based (0: the file as a whole)."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class MonitProgram:
    """A start or stop program: argv (no shell), who runs it, how long it may take."""
    argv: tuple[str, ...]
    uid: str | None = None
    gid: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class MonitCheck:
    """One ``check process`` of a job's classic monit file."""
    job: str
    name: str
    pidfile: str
    start: MonitProgram
    stop: MonitProgram | None
    groups: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    line: int = 0
    ignored: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> str:
        return f"{self.job}/{self.name}"


@dataclass(frozen=True)
class _Token:
    text: str
    line: int
    quoted: bool = False

    @property
    def word(self) -> str:
        return "" if self.quoted else self.text.lower()


def is_classic(text: str) -> bool:
    """True when the first statement (comments and blank lines aside) is ``check`` or
    ``set``: monit syntax, not bosh-py's YAML process list."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            first = line.split(None, 1)[0].lower()
            return first in ("check", "set")
    return False


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise MonitSyntaxError(line, f"unterminated string starting with {c}")
            value = text[i + 1:end]
            if "\n" in value:
                raise MonitSyntaxError(line, "a quoted string may not span lines")
            tokens.append(_Token(value, line, quoted=True))
            i = end + 1
        elif c in ",{}":
            tokens.append(_Token(c, line))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "\"',{}#":
                i += 1
            tokens.append(_Token(text[start:i], line))
    return tokens


class _Parser:
    def __init__(self, job: str, tokens: list[_Token]):
        self.job = job
        self.tokens = tokens
        self.pos = 0

    # --- token helpers ---------------------------------------------------------------------

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str) -> _Token:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1].line if self.tokens else 0
            raise MonitSyntaxError(last, f"unexpected end of file, expected {what}")
        self.pos += 1
        return tok

    def skip_noise(self) -> None:
        while (tok := self.peek()) is not None and tok.word in _NOISE:
            self.pos += 1

    def at_statement(self) -> bool:
        tok = self.peek()
        return tok is None or tok.word in _STATEMENTS

    # --- grammar ---------------------------------------------------------------------------

    def parse(self) -> list[MonitCheck]:
        checks: list[MonitCheck] = []
        while (tok := self.peek()) is not None:
            if tok.word == "set":
                raise MonitSyntaxError(tok.line, "'set' statements belong to the VM's monit "
                                       "configuration, not to a job's monit file")
            if tok.word != "check":
                raise MonitSyntaxError(tok.line, f"expected 'check process NAME', found {tok.text!r}")
            checks.append(self.check())
        return checks

    def check(self) -> MonitCheck:
        head = self.next("check")
        kind = self.next("a service type after 'check'")
        if kind.word != "process":
            if kind.word in _OTHER_TYPES:
                raise MonitSyntaxError(kind.line, f"'check {kind.text}' is not supported: the agent "
                                       "supervises only 'check process ... with pidfile ...'")
            raise MonitSyntaxError(kind.line, f"unknown service type {kind.text!r} after 'check'")
        name = self.next("a process name")
        if name.quoted or not _NAME.match(name.text):
            raise MonitSyntaxError(name.line, f"invalid process name {name.text!r}")
        pidfile: str | None = None
        start: MonitProgram | None = None
        stop: MonitProgram | None = None
        groups: list[str] = []
        depends: list[str] = []
        ignored: list[str] = []
        while True:
            self.skip_noise()
            tok = self.peek()
            if tok is None or tok.word == "check":
                break
            word = tok.word
            if word == "pidfile":
                self.pos += 1
                self.skip_noise()
                path = self.next("a pidfile path")
                if not path.text.startswith("/"):
                    raise MonitSyntaxError(path.line, f"pidfile {path.text!r}: expected an absolute path")
                pidfile = path.text
            elif word in ("matching", "pid", "path", "address"):
                raise MonitSyntaxError(tok.line, f"'check process {name.text} {tok.text}' is not "
                                       "supported: the agent finds a process by its pidfile")
            elif word in ("start", "stop"):
                self.pos += 1
                program = self.program(word, tok.line)
                if word == "start":
                    start = program
                else:
                    stop = program
            elif word == "restart":
                self.pos += 1
                self.program("restart", tok.line)
                ignored.append(f"line {tok.line}: restart program")
            elif word == "group":
                self.pos += 1
                group = self.next("a group name")
                groups.append(group.text)
            elif word == "depends":
                self.pos += 1
                self.skip_noise()
                depends.extend(self.name_list(tok.line))
            elif word == "if":
                self.rule()
                ignored.append(f"line {tok.line}: if ... then ...")
            elif word == "mode":
                self.pos += 1
                mode = self.next("active, passive or manual")
                if mode.word not in ("active", "passive", "manual"):
                    raise MonitSyntaxError(mode.line, f"mode {mode.text!r}: expected active, passive or manual")
                ignored.append(f"line {tok.line}: mode {mode.word}")
            elif word == "every":
                self.pos += 1
                what = self.next("a number of cycles or a cron string")
                if not what.quoted:
                    if not what.text.isdigit():
                        raise MonitSyntaxError(what.line, f"every {what.text!r}: expected N cycles")
                    unit = self.next("'cycles'")
                    if unit.word not in ("cycle", "cycles"):
                        raise MonitSyntaxError(unit.line, f"every {what.text} {unit.text!r}: expected 'cycles'")
                ignored.append(f"line {tok.line}: every")
            elif word in ("alert", "noalert"):
                self.pos += 1
                self.next("a mail address")
                self.skip_braces_and_options()
                ignored.append(f"line {tok.line}: {word}")
            else:
                raise MonitSyntaxError(tok.line, f"unexpected {tok.text!r} in 'check process {name.text}'")
        if pidfile is None:
            raise MonitSyntaxError(head.line, f"check process {name.text}: 'with pidfile PATH' is required")
        if start is None:
            raise MonitSyntaxError(head.line, f"check process {name.text}: 'start program \"...\"' is required")
        if name.text in depends:
            raise MonitSyntaxError(head.line, f"check process {name.text} depends on itself")
        return MonitCheck(self.job, name.text, pidfile, start, stop, tuple(groups),
                          tuple(dict.fromkeys(depends)), head.line, tuple(ignored))

    def program(self, verb: str, line: int) -> MonitProgram:
        tok = self.peek()
        if tok is not None and tok.word in ("program", "programs"):
            self.pos += 1
        self.skip_noise()
        cmd = self.next(f"a quoted program after '{verb} program'")
        if not cmd.quoted:
            raise MonitSyntaxError(cmd.line, f"{verb} program: expected a quoted command, found {cmd.text!r}")
        try:
            argv = tuple(shlex.split(cmd.text))
        except ValueError as e:
            raise MonitSyntaxError(cmd.line, f"{verb} program {cmd.text!r}: {e}") from None
        if not argv:
            raise MonitSyntaxError(cmd.line, f"{verb} program: the command is empty")
        if not argv[0].startswith("/"):
            raise MonitSyntaxError(cmd.line, f"{verb} program {argv[0]!r}: monit needs an absolute path")
        uid = gid = None
        timeout = DEFAULT_TIMEOUT
        while True:
            self.skip_noise()
            tok = self.peek()
            if tok is None:
                break
            if tok.word in ("uid", "user"):
                self.pos += 1
                uid = self.next("a user name or number").text
            elif tok.word in ("gid", "group") and self._group_is_option():
                self.pos += 1
                gid = self.next("a group name or number").text
            elif tok.word == "timeout":
                self.pos += 1
                value = self.next("a number of seconds")
                if not value.text.isdigit() or int(value.text) <= 0:
                    raise MonitSyntaxError(value.line, f"{verb} program timeout {value.text!r}: expected a positive number")
                unit = self.peek()
                if unit is not None and unit.word in ("second", "seconds", "cycle", "cycles"):
                    self.pos += 1
                    if unit.word.startswith("cycle"):
                        raise MonitSyntaxError(unit.line, f"{verb} program timeout in cycles: give seconds")
                timeout = float(value.text)
            else:
                break
        return MonitProgram(argv, uid, gid, timeout)

    def _group_is_option(self) -> bool:
        """``gid`` always is; ``group`` only right after ``as uid X and`` would be ambiguous
        with the ``group NAME`` statement, so only ``gid`` is taken as the option."""
        tok = self.peek()
        return tok is not None and tok.word == "gid"

    def name_list(self, line: int) -> list[str]:
        names: list[str] = []
        while True:
            tok = self.next("a process name after 'depends on'")
            if tok.quoted or not _NAME.match(tok.text) or tok.word in _STATEMENTS:
                raise MonitSyntaxError(tok.line, f"depends on: invalid process name {tok.text!r}")
            names.append(tok.text)
            nxt = self.peek()
            if nxt is not None and nxt.text == ",":
                self.pos += 1
                continue
            return names

    def rule(self) -> None:
        """``if <test> then <action> [else if <test> then <action>]``: skipped, checked only
        for shape so a typo still names its line."""
        start = self.next("if")
        while True:
            while True:
                tok = self.next(f"'then' for the 'if' on line {start.line}")
                if tok.word == "then":
                    break
                if tok.word in ("check", "if"):
                    raise MonitSyntaxError(tok.line, f"'if' on line {start.line} has no 'then'")
            action = self.next("an action after 'then'")
            if action.word not in _ACTIONS:
                raise MonitSyntaxError(action.line, f"unknown action {action.text!r} after 'then'")
            if action.word == "exec":
                cmd = self.next("a quoted program after 'exec'")
                if not cmd.quoted:
                    raise MonitSyntaxError(cmd.line, "exec: expected a quoted command")
                self.program_options()
            nxt = self.peek()
            if nxt is not None and nxt.word == "repeat":
                self.pos += 3  # repeat every N cycles
                self.next("'cycles'")
            nxt = self.peek()
            if nxt is not None and nxt.word == "else":
                self.pos += 1
                if self.next("'if' after 'else'").word != "if":
                    raise MonitSyntaxError(nxt.line, "expected 'else if'")
                continue
            return

    def program_options(self) -> None:
        while True:
            self.skip_noise()
            tok = self.peek()
            if tok is not None and tok.word in ("uid", "gid", "user"):
                self.pos += 2
            else:
                return

    def skip_braces_and_options(self) -> None:
        while True:
            self.skip_noise()
            tok = self.peek()
            if tok is not None and tok.word in ("not", "mail-format", "reminder"):
                self.pos += 1
            elif tok is not None and tok.text == "{":
                while self.next("'}'").text != "}":
                    pass
            else:
                return


def parse_classic(job: str, text: str) -> list[MonitCheck]:
    """The ``check process`` entries of one job's classic monit file, or MonitSyntaxError
    naming the line. Names must be unique within the file; ``depends on`` is resolved
    later, across all the VM's jobs (as monit does with its one control file)."""
    checks = _Parser(job, _tokenize(text)).parse()
    seen: dict[str, int] = {}
    for c in checks:
        if c.name in seen:
            raise MonitSyntaxError(c.line, f"check process {c.name} is already defined on line {seen[c.name]}")
        seen[c.name] = c.line
    return checks


def start_order(checks: list[MonitCheck]) -> list[list[MonitCheck]]:
    """Layers of checks: each depends only on checks of earlier layers (start in this
    order, stop in reverse). Raises ValueError naming an unknown dependency or a cycle."""
    by_name = {c.name: c for c in checks}
    for c in checks:
        for dep in c.depends_on:
            if dep not in by_name:
                raise ValueError(f"Job {c.job}: monit line {c.line}: check process {c.name} depends on "
                                 f"{dep!r}, which no job's monit file defines")
    level: dict[str, int] = {}

    def depth(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            cycle = " -> ".join((*trail[trail.index(name):], name))
            raise ValueError(f"monit: dependency cycle {cycle}")
        if name not in level:
            deps = by_name[name].depends_on
            level[name] = 1 + max((depth(d, (*trail, name)) for d in deps), default=-1)
        return level[name]

    for c in checks:
        depth(c.name, ())
    layers: list[list[MonitCheck]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for c in checks:
        layers[level[c.name]].append(c)
    return layers
