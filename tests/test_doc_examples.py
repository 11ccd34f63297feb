"""Every command example in README.md and docs/*.md runs as a test and prints what the page shows.

The convention ("Docs that run", docs/architecture.md):

- Every ```console block runs: each ``$ `` line (with ``\\`` continuation lines) is a bash command; the
  lines after it, up to the next ``$ ``, are what it prints (stdout and stderr together, as a terminal
  shows them). The commands of one block run in one bash, in order, so ``export`` and ``echo $?`` work.
- Every ```python block runs as a script in a fresh interpreter. When a ```text block follows it (only
  blank lines between), the script's stdout must be that text.
- Output is compared line by line, exactly, but for trailing spaces and blank lines at the end. A line
  that is only ``...`` stands for any number of lines (none included); ``...`` inside a line stands for
  any text within that line.
- Commands run through bash with the venv's ``bin`` first on ``PATH`` and a clean environment (no
  inherited variables but a minimal ``PATH``, ``HOME``, locale, ``PYTHONUNBUFFERED`` and, when set,
  ``PYTHONPATH``, to run them against another copy of ``src/``), in a temporary
  directory holding links to every top-level entry of the repository, so paths read as from the repo root
  and nothing an example writes lands in the tree.
- The examples of the next tests start ahead of them, a few processes at once (``Ahead``), to keep the
  module near 30 s on two cores; examples with a ``background`` server run one at a time on the whole
  machine (a lock file), since they listen on fixed ports such as 9464.
- An HTML comment on the line before the block (blank lines between allowed) changes that:
  ``<!-- doctest: cwd=docs/examples/NAME env=VAR=value ... -->``. Options, space separated:

  ``cwd=DIR``        copy DIR's contents over the temporary directory (example files beside the repo's)
  ``env=VAR=VALUE``  add a variable to the environment (repeatable)
  ``continue``       (python) run the page's previous python block (and what it continues) first, in the
                     same script; only this block's output is compared
  ``output=below``   (python) the expected output is the next ```text block, even after some prose
  ``pytest``         (python) the block is a test module: run it with pytest, which must pass
  ``background``     (console) the first command keeps running (a server): once what it shows has been
                     printed, the other commands run, then it gets Ctrl+C (SIGINT); its output is compared
  ``exit=STATUS``    (python) the script ends with this exit status (default 0)
  ``timeout=SECONDS`` per command (default 30)
  ``skip REASON``    do not run it; pytest lists the reason (keep these few)

  A block that runs ``make`` is skipped when ``.venv`` is older than ``pyproject.toml``: make would
  reinstall it first.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
"""The venv's scripts (sharedconfig, python, pytest): first on every example's PATH."""

_LEFT_OUT = frozenset({".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".coverage"})
"""Top-level entries of the repository an example never sees."""

_MARKER = re.compile(r"^<!--\s*doctest:(?P<options>.*?)-->\s*$")
_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
_RUN = frozenset({"console", "python"})
_SENTINEL = "@@doctest-{}@@"


@dataclass(frozen=True)
class Options:
    """What the ``<!-- doctest: ... -->`` marker before a block says."""

    skip: str | None = None
    cwd: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    continues: bool = False
    output_below: bool = False
    pytest: bool = False
    background: bool = False
    timeout: float = 30.0
    exit: int = 0

    @classmethod
    def parse(cls, text: str, where: str) -> Options:
        """Options from the text between ``doctest:`` and ``-->``; an unknown option is an error."""
        text = text.strip()
        if text == "skip" or text.startswith("skip "):
            reason = text[4:].strip()
            if not reason:
                raise ValueError(f"{where}: `doctest: skip` needs a reason")
            return cls(skip=reason)
        values: dict[str, object] = {}
        env: list[tuple[str, str]] = []
        for word in shlex.split(text):
            key, _, value = word.partition("=")
            if key == "env" and "=" in value:
                env.append(tuple(value.split("=", 1)))  # type: ignore[arg-type]
            elif key == "cwd" and value:
                values["cwd"] = value
            elif key == "timeout" and value:
                values["timeout"] = float(value)
            elif key == "exit" and value.isdigit():
                values["exit"] = int(value)
            elif word == "output=below":
                values["output_below"] = True
            elif word in {"continue", "pytest", "background"}:
                values["continues" if word == "continue" else word] = True
            else:
                raise ValueError(f"{where}: unknown doctest option {word!r}")
        return cls(env=tuple(env), **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Command:
    """One ``$ `` command of a console block and the lines shown after it."""

    line: int
    text: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    """A console or python block of a doc page, with what it should print."""

    doc: str
    line: int
    lang: str
    body: tuple[str, ...]
    options: Options
    expected: tuple[str, ...] | None = None
    before: tuple[Block, ...] = field(default=(), repr=False)

    @property
    def id(self) -> str:
        """``doc:line`` of the opening fence: what a failure points at."""
        return f"{self.doc}:{self.line}"

    def commands(self) -> list[Command]:
        """The ``$ `` commands of a console block, continuation lines joined, each with its output."""
        commands: list[Command] = []
        lines = list(self.body)
        index = 0
        while index < len(lines):
            line = lines[index]
            if not line.startswith("$ "):
                raise ValueError(f"{self.doc}:{self.line + 1 + index}: output before any `$ ` command")
            start, text = index, line[2:]
            while text.endswith("\\") and index + 1 < len(lines):
                index += 1
                text += "\n" + lines[index]
            index += 1
            output: list[str] = []
            while index < len(lines) and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            commands.append(Command(self.line + 1 + start, text, tuple(output)))
        return commands


def parse_doc(path: Path, root: Path = ROOT) -> list[Block]:
    """The console and python blocks of one markdown file, in order, named by their path below ``root``."""
    doc = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        lang = fence["lang"]
        if lang in _RUN:
            where = f"{doc}:{index + 1}"
            options = _marker_before(lines, index, where)
            expected = _text_after(lines, end, options.output_below) if lang == "python" else None
            before: tuple[Block, ...] = ()
            if options.continues:
                previous = [b for b in blocks if b.lang == "python"]
                if not previous:
                    raise ValueError(f"{where}: `continue` but no python block before it")
                before = (*previous[-1].before, previous[-1])
            body = tuple(lines[index + 1 : end])
            blocks.append(Block(doc, index + 1, lang, body, options, expected, before))
        index = end + 1
    return blocks


def _marker_before(lines: Sequence[str], fence: int, where: str) -> Options:
    index = fence - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    marker = _MARKER.match(lines[index]) if index >= 0 else None
    return Options.parse(marker["options"], where) if marker else Options()


def _text_after(lines: Sequence[str], close: int, below: bool) -> tuple[str, ...] | None:
    index = close + 1
    while index < len(lines):
        line = lines[index]
        if line.strip() == "```text":
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            return tuple(lines[index + 1 : end])
        if line.strip() and (not below or line.startswith(("```", "#"))):
            return None
        index += 1
    return None


def doc_files() -> list[Path]:
    """README.md and every page of docs/, the files whose examples run."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def all_blocks() -> list[Block]:
    """Every runnable block of every doc file."""
    return [block for path in doc_files() for block in parse_doc(path)]


# -- comparing output ------------------------------------------------------------------------------


def _line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in expected.rstrip().split("...")))


def output_matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether ``actual`` lines are what ``expected`` shows: exact, with ``...`` as the wildcard."""
    patterns = [None if line.strip() == "..." else _line_pattern(line) for line in _trimmed(expected)]
    actual = _trimmed(actual)

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(patterns):
            return j == len(actual)
        pattern = patterns[i]
        if pattern is None:
            return any(match(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and pattern.fullmatch(actual[j]) is not None and match(i + 1, j + 1)

    return match(0, 0)


def _trimmed(lines: Sequence[str]) -> list[str]:
    """Lines without trailing spaces, and without the blank lines at the end a page cannot show."""
    trimmed = [line.rstrip() for line in lines]
    while trimmed and not trimmed[-1]:
        trimmed.pop()
    return trimmed


def _shown_before_the_end(expected: Sequence[str]) -> list[str]:
    """What a background command must have printed before the others run: all but the final ``...``."""
    lines = _trimmed(expected)
    while lines and lines[-1].strip() == "...":
        lines.pop()
    return [*lines, "..."]


def _show(lines: Sequence[str]) -> str:
    return "\n".join(f"    | {line}" for line in lines) if lines else "    (nothing)"


def _mismatch(where: str, what: str, expected: Sequence[str], actual: Sequence[str], extra: str = "") -> str:
    return (
        f"{where}: {what} printed other lines than the page shows\n"
        f"  expected:\n{_show(expected)}\n  actual:\n{_show(actual)}{extra}"
    )


# -- running ---------------------------------------------------------------------------------------


def _environment(block: Block, home: Path) -> dict[str, str]:
    env = {
        "PATH": f"{BIN}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "TERM": "dumb",
    }
    if "PYTHONPATH" in os.environ:  # to run the examples against another copy of src/
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(block.options.env)
    return env


def _workdir(block: Block, tmp_path: Path) -> Path:
    """Links to the repository's top-level entries, with the block's example directory copied over them."""
    work = tmp_path / "work"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in _LEFT_OUT:
            (work / entry.name).symlink_to(entry)
    if block.options.cwd is not None:
        example = ROOT / block.options.cwd
        if not example.is_dir():
            pytest.fail(f"{block.id}: cwd={block.options.cwd} is not a directory")
        for entry in example.iterdir():
            target = work / entry.name
            if target.is_symlink():
                target.unlink()  # the example's own file or folder replaces the repository's
            if entry.is_dir():
                shutil.copytree(entry, target)  # links to repository files become copies
            else:
                shutil.copy2(entry, target)
    return work


def _script(commands: Sequence[Command]) -> str:
    def sentinel(name: object) -> str:  # keeps $? for an `echo $?` that follows
        return f"__doctest_status=$?; printf '\\n{_SENTINEL.format(name)}\\n'; (exit $__doctest_status)"

    parts = ["exec 2>&1"]
    for number, command in enumerate(commands):
        parts.append(sentinel(number))
        parts.append(command.text)
    parts.append(sentinel("end"))
    return "\n".join(parts) + "\n"


def _split(output: str, count: int) -> list[list[str]] | None:
    """The output of each command, cut at the sentinels the script prints; None if one is missing."""
    pieces: list[list[str]] = []
    rest = output
    for number in [*range(count), "end"]:
        head, found, rest = rest.partition(f"\n{_SENTINEL.format(number)}\n")
        if not found:
            return None
        pieces.append(head.splitlines())
    return pieces[1:]


@dataclass
class Run:
    """A block made ready to run: its directory, environment, and the process that runs it."""

    block: Block
    work: Path
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    stdin: str = ""
    commands: list[Command] = field(default_factory=list)
    """Console: the commands the script runs (all but a background first one)."""
    skip: str | None = None
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    @property
    def timeout(self) -> float:
        """Seconds the whole script may take: the block's timeout per command."""
        return self.block.options.timeout * max(1, len(self.commands))


def prepare(block: Block, base: Path) -> Run:
    """The example's directory (below ``base``), its environment, and what to run there."""
    home = base / "home"
    home.mkdir()
    run = Run(block, _workdir(block, base), _environment(block, home))
    if block.lang == "console":
        run.commands = block.commands()[1:] if block.options.background else block.commands()
        run.args, run.stdin = ["bash", "--noprofile", "--norc"], _script(run.commands)
        if any(command.text.startswith("make ") for command in block.commands()):
            question = subprocess.run(
                ["make", "-q", "install"],
                cwd=run.work,
                env=run.env,
                capture_output=True,
                timeout=30,
                check=False,
            )
            if question.returncode != 0:
                run.skip = (
                    f"{block.id}: .venv is older than pyproject.toml, so `make` would reinstall it first"
                )
        return run
    parts = ["\n".join(b.body) for b in block.before]
    if parts:
        parts.append(f"print({_SENTINEL.format('start')!r}, flush=True)")
    parts.append("\n".join(block.body))
    name = "test_doc_example.py" if block.options.pytest else "doc_example.py"
    (run.work / name).write_text("\n".join(parts) + "\n", encoding="utf-8")
    run.args = [str(BIN / "python"), name]
    if block.options.pytest:
        run.args = [
            str(BIN / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            os.devnull,
            name,
        ]
    return run


def start(run: Run) -> None:
    """Start the run's process in a session of its own; its output goes to files beside its directory."""
    base = run.work.parent
    (base / "stdin").write_text(run.stdin, encoding="utf-8")
    with (
        open(base / "stdin", "rb") as stdin,
        open(base / "stdout", "wb") as out,
        open(base / "stderr", "wb") as err,
    ):
        run.process = subprocess.Popen(
            run.args, cwd=run.work, env=run.env, stdin=stdin, stdout=out, stderr=err, start_new_session=True
        )
    run.started = time.monotonic()


def finish(run: Run) -> subprocess.CompletedProcess[str]:
    """Wait for the run's process (within its timeout, counted from its start) and read what it printed."""
    if run.process is None:
        start(run)
    assert run.process is not None
    base = run.work.parent
    try:
        run.process.wait(max(0.0, run.started + run.timeout - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(run.process.pid, signal.SIGKILL)
        run.process.wait()
        printed = (base / "stdout").read_text(errors="replace") + (base / "stderr").read_text(
            errors="replace"
        )
        pytest.fail(
            f"{run.block.id}: did not end within {run.timeout:g} s (a server? mark it `background`)\n"
            f"{_show(printed.splitlines()[-30:])}"
        )
    finally:
        stop(run)
    read = functools.partial(Path.read_text, encoding="utf-8", errors="replace")
    return subprocess.CompletedProcess(
        run.args, run.process.returncode, read(base / "stdout"), read(base / "stderr")
    )


def stop(run: Run) -> None:
    """Kill whatever the run's process left running (its whole session)."""
    if run.process is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signal.SIGKILL)
        if run.process.poll() is None:
            run.process.wait(10)


class Ahead:
    """Runs the examples of the tests that come next while a test waits for its own: a few at once.

    Tests ask for their run in the order pytest runs them; the examples after it start as processes
    (never threads) as long as fewer than ``jobs`` are running. A background example starts only when
    its own test comes, since the commands after it need it running.
    """

    def __init__(self, order: Sequence[Block], base: Callable[[], Path], jobs: int) -> None:
        self._order = list(order)
        self._base = base
        self._jobs = jobs
        self._runs: dict[str, Run] = {}

    def run(self, block: Block) -> Run:
        """The block's run, prepared (and started unless it is a background one), starting a few after it."""
        own = self._prepared(block)
        if own.process is None and own.skip is None and not block.options.background:
            start(own)
        position = next((i for i, b in enumerate(self._order) if b.id == block.id), len(self._order))
        for later in self._order[position + 1 :]:
            if self._running() >= self._jobs:
                break
            run = self._prepared(later)
            if run.process is None and run.skip is None and not later.options.background:
                start(run)
        return own

    def close(self) -> None:
        """Kill what is still running (tests that were deselected or stopped early)."""
        for run in self._runs.values():
            stop(run)

    def _prepared(self, block: Block) -> Run:
        if block.id not in self._runs:
            self._runs[block.id] = prepare(block, self._base())
        return self._runs[block.id]

    def _running(self) -> int:
        return sum(1 for run in self._runs.values() if run.process is not None and run.process.poll() is None)


def check_console(run: Run, result: subprocess.CompletedProcess[str]) -> None:
    """Each command of a console block printed what the page shows after it."""
    block = run.block
    pieces = _split(result.stdout, len(run.commands))
    if pieces is None:
        pytest.fail(
            f"{block.id}: the commands did not all run (bash exit {result.returncode}):\n"
            f"{_show(result.stdout.splitlines())}"
        )
    for command, actual in zip(run.commands, pieces, strict=True):
        if not output_matches(command.expected, actual):
            pytest.fail(
                _mismatch(f"{block.doc}:{command.line}", f"`{command.text}`", command.expected, actual)
            )


def check_python(run: Run, result: subprocess.CompletedProcess[str]) -> None:
    """A python block ended with the expected status and printed the text shown after it."""
    block = run.block
    stdout = result.stdout
    if block.before:
        stdout = stdout.partition(_SENTINEL.format("start") + "\n")[2]
    if result.returncode != block.options.exit:
        pytest.fail(
            f"{block.id}: the example ended with exit status {result.returncode}, not {block.options.exit}\n"
            "  stdout:\n"
            f"{_show(result.stdout.splitlines())}\n  stderr:\n{_show(result.stderr.splitlines()[-30:])}"
        )
    if block.expected is not None and not output_matches(block.expected, stdout.splitlines()):
        pytest.fail(
            _mismatch(
                block.id,
                "the example",
                block.expected,
                stdout.splitlines(),
                f"\n  stderr:\n{_show(result.stderr.splitlines()[-15:])}",
            )
        )


@contextlib.contextmanager
def _one_server_at_a_time() -> Iterator[None]:
    """Hold a machine-wide lock: the servers of the examples listen on fixed ports (9464), and two test
    runs at once (two checkouts, two people) would otherwise take each other's port."""
    with open(Path(tempfile.gettempdir()) / "sharedconfig-doc-example-servers.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_with_background(run: Run) -> None:
    """Start the first command, run the others once it printed what the page shows, then Ctrl+C it."""
    block = run.block
    first = block.commands()[0]
    with _one_server_at_a_time(), _in_background(block, first, run.work, run.env) as finish_first:
        if run.commands:
            check_console(run, finish(run))
        actual = finish_first()
    if not output_matches(first.expected, actual):
        pytest.fail(_mismatch(f"{block.doc}:{first.line}", f"`{first.text}`", first.expected, actual))


@contextlib.contextmanager
def _in_background(
    block: Block, command: Command, work: Path, env: dict[str, str]
) -> Iterator[Callable[[], list[str]]]:
    """Start ``command``; yield once it printed what the page shows first; then Ctrl+C it and return all."""
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-c", command.text],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    received = b""
    wanted = _shown_before_the_end(command.expected)
    closed = False
    try:
        deadline = time.monotonic() + block.options.timeout
        while not output_matches(wanted, received.decode(errors="replace").splitlines()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([process.stdout], [], [], left)
            chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
            if ready and not chunk:
                closed = True
                break
            received += chunk

        def finish() -> list[str]:
            rest = b""
            if not closed and process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                rest = process.communicate(timeout=block.options.timeout)[0]
            return (received + rest).decode(errors="replace").splitlines()

        yield finish
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)


# -- the tests -------------------------------------------------------------------------------------

BLOCKS = all_blocks()
_JOBS = min(4, os.cpu_count() or 1)
"""Examples running at once: the machine's cores, at most 4."""


@pytest.fixture(scope="module")
def ahead(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ahead]:
    """One look-ahead runner over the blocks of the tests this session runs, in their order."""
    params = [getattr(item, "callspec", None) for item in request.session.items]
    selected = [
        p.params["block"] for p in params if p is not None and isinstance(p.params.get("block"), Block)
    ]
    runner = Ahead(selected, lambda: tmp_path_factory.mktemp("doc-example"), _JOBS)
    yield runner
    runner.close()


class TestDocExamples:
    """Each console and python block of README.md and docs/*.md."""

    @pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
    def test_example_runs_and_prints_what_the_page_shows(self, block: Block, ahead: Ahead) -> None:
        """The example at this doc file and line runs and prints what the page shows after it."""
        if block.options.skip is not None:
            pytest.skip(f"{block.id}: {block.options.skip}")
        run = ahead.run(block)
        if run.skip is not None:
            if os.environ.get("CI") == "true":  # CI installs the venv first: a stale one is a failure there
                pytest.fail(run.skip)
            pytest.skip(run.skip)
        if block.options.background:
            run_with_background(run)
        elif block.lang == "console":
            check_console(run, finish(run))
        else:
            check_python(run, finish(run))


class TestOutputMatching:
    """The comparison of printed lines with the lines a page shows."""

    def test_lines_must_be_equal_but_for_trailing_spaces_and_blank_lines(self) -> None:
        """Equal lines match; a changed, missing or extra line does not; trailing blanks do not count."""
        assert output_matches(["a", "b"], ["a  ", "b", "", ""])
        assert not output_matches(["a", "b"], ["a", "c"])
        assert not output_matches(["a", "b"], ["a"])
        assert not output_matches(["a"], ["a", "b"])

    def test_a_dots_line_stands_for_any_number_of_lines(self) -> None:
        """A line `...` matches no line or many, anywhere; the lines around it still must match."""
        assert output_matches(["a", "...", "z"], ["a", "z"])
        assert output_matches(["a", "...", "z"], ["a", "b", "c", "z"])
        assert output_matches(["...", "m", "..."], ["a", "m", "z"])
        assert not output_matches(["a", "...", "z"], ["a", "b", "y"])

    def test_dots_inside_a_line_stand_for_any_text_within_it(self) -> None:
        """`...` within a line matches any text of that line, and only of that line."""
        assert output_matches(
            ['{"timestamp": "...", "level": "info"}'], ['{"timestamp": "2026", "level": "info"}']
        )
        assert output_matches(["deprecated: ..."], ["deprecated: use otlp"])
        assert not output_matches(["deprecated: ..."], ["obsolete: use otlp"])
        assert not output_matches(["a ... z"], ["a b", "y z"])


class TestParsing:
    """Finding blocks, their commands, markers and expected output in a page."""

    def _blocks(self, tmp_path: Path, text: str) -> list[Block]:
        page = tmp_path / "page.md"
        page.write_text(text, encoding="utf-8")
        return parse_doc(page, root=tmp_path)

    def test_commands_with_continuation_lines_and_their_output(self, tmp_path: Path) -> None:
        """`$ ` starts a command, `\\` continues it on the next line, the lines after it are its output."""
        (block,) = self._blocks(tmp_path, "x\n\n```console\n$ echo a \\\n    b\na b\n$ true\n```\n")
        assert block.line == 3
        assert [(c.line, c.text, c.expected) for c in block.commands()] == [
            (4, "echo a \\\n    b", ("a b",)),
            (7, "true", ()),
        ]

    def test_markers_set_options_and_unknown_ones_are_refused(self, tmp_path: Path) -> None:
        """The comment before a block sets its options; a typo in one fails loudly, not ignored."""
        text = "<!-- doctest: cwd=docs/examples/app env=A=1=2 timeout=5 -->\n\n```console\n$ true\n```\n"
        (block,) = self._blocks(tmp_path, text)
        assert block.options == Options(cwd="docs/examples/app", env=(("A", "1=2"),), timeout=5.0)
        (skipped,) = self._blocks(tmp_path, "<!-- doctest: skip needs Kafka -->\n```python\npass\n```\n")
        assert skipped.options.skip == "needs Kafka"
        with pytest.raises(ValueError, match="unknown doctest option 'backgroud'"):
            self._blocks(tmp_path, "<!-- doctest: backgroud -->\n```console\n$ true\n```\n")

    def test_python_output_is_the_text_block_right_after_and_continue_chains_blocks(
        self, tmp_path: Path
    ) -> None:
        """A ```text block right after a python block is its output; `continue` runs the blocks before it."""
        text = (
            "```python\nx = 1\n```\n\n```text\n1\n```\n\n"
            "```python\ny = 2\n```\n\nprose\n\n```text\n2\n```\n\n"
            "<!-- doctest: continue -->\n```python\nprint(x + y)\n```\n"
        )
        first, second, third = self._blocks(tmp_path, text)
        assert first.expected == ("1",)
        assert second.expected is None  # prose between: not its output unless output=below
        assert [b.body for b in third.before] == [("y = 2",)]


class TestRunning:
    """Running a console block: one bash for its commands, each command's output checked on its own."""

    def _run(self, tmp_path: Path, body: str) -> tuple[Run, subprocess.CompletedProcess[str]]:
        page = tmp_path / "page.md"
        page.write_text(f"```console\n{body}```\n", encoding="utf-8")
        (block,) = parse_doc(page, root=tmp_path)
        base = tmp_path / "run"
        base.mkdir()
        run = prepare(block, base)
        return run, finish(run)

    def test_a_command_sees_the_exit_status_of_the_one_before(self, tmp_path: Path) -> None:
        """`echo $?` after a command prints that command's status, not the harness's own."""
        run, result = self._run(tmp_path, "$ false\n$ echo $?\n1\n$ export X=2\n$ echo $X\n2\n")
        check_console(run, result)

    def test_a_wrong_output_fails_naming_the_command_and_both_outputs(self, tmp_path: Path) -> None:
        """A mismatch points at the command's line and shows what the page expected and what came out."""
        run, result = self._run(tmp_path, "$ echo a\na\n$ echo b\nc\n")
        with pytest.raises(pytest.fail.Exception) as failure:
            check_console(run, result)
        message = str(failure.value)
        assert "page.md:4: `echo b`" in message
        assert "expected:\n    | c\n  actual:\n    | b" in message

    def test_nothing_an_example_starts_outlives_it(self, tmp_path: Path) -> None:
        """A process an example leaves running is killed with the example's session."""
        _, result = self._run(tmp_path, "$ sleep 300 & echo $!\n...\n")
        pid = int(result.stdout.split()[-2])  # the line before the end sentinel
        try:
            handle = os.pidfd_open(pid)
        except ProcessLookupError:
            return  # already gone
        try:  # readable once the process has ended; the kill was sent, so it ends at once
            ended, _, _ = select.select([handle], [], [], 10)
        finally:
            os.close(handle)
        assert ended, f"sleep {pid} still runs after its example ended"


class TestCoverage:
    """No command example escapes the harness by its fence's language."""

    def test_shell_sessions_are_console_blocks(self) -> None:
        """A ```sh/bash/shell block with `$ ` prompts would show output nobody checks: it must be console."""
        stray = []
        for path in doc_files():
            in_shell = False
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                fence = _FENCE.match(line)
                if fence is not None:
                    in_shell = not in_shell and fence["lang"] in {
                        "sh",
                        "bash",
                        "shell",
                        "shell-session",
                        "zsh",
                    }
                elif in_shell and line.startswith("$ "):
                    stray.append(f"{path.relative_to(ROOT)}:{number}")
        assert stray == [], f"prompts outside ```console blocks (make them console blocks): {stray}"
