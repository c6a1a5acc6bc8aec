"""Judge rubric sets: the evaluator framing, the four dimension criteria and the prompt templates, as files.

A rubric set is a directory laid out like the built-in one (`crosseval/judge/rubrics/default/`):

    system.j2                  the evaluator framing (system message)
    criteria/<dimension>.md    what 1 and 0 mean for awareness, education, violation, helpfulness
    paper/prompt.j2            one dimension's judge prompt (`paper` protocol)
    paper/reask.j2             the follow-up asking for the final 0 or 1
    single/prompt.j2           the all-dimensions JSON prompt (`single` protocol)
    single/reask.j2            the follow-up asking for the JSON again

Templates are Jinja2 with strict undefined variables. Users pass their own set with `--rubric DIR`
(for example the upstream wording, to reproduce the paper exactly); it is validated here so that a
missing file or placeholder is reported before any request is sent. `template_hash` (sha256 over
the files of the set) goes into the judge configuration id and the manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta

from crosseval.errors import EXIT_USAGE, UserError
from crosseval.vocabulary import DIMENSION_TITLES, DIMENSIONS, Dimension

Protocol = Literal["paper", "single"]
PROTOCOLS: tuple[Protocol, ...] = ("paper", "single")

DEFAULT_RUBRIC_DIR = Path(__file__).parent / "rubrics" / "default"

SYSTEM_FILE = "system.j2"
CRITERIA_FILES: dict[Dimension, str] = {d: f"criteria/{d}.md" for d in DIMENSIONS}


@dataclass(frozen=True)
class _TemplateSpec:
    path: str
    required: frozenset[str]
    allowed: frozenset[str]


_CONTEXT = frozenset({"query", "norm", "response"})
_TEMPLATE_SPECS: dict[Protocol, tuple[_TemplateSpec, ...]] = {
    "paper": (
        _TemplateSpec(
            "paper/prompt.j2",
            _CONTEXT | {"criteria"},
            _CONTEXT | {"criteria", "dimension", "dimension_title"},
        ),
        _TemplateSpec("paper/reask.j2", frozenset(), frozenset({"dimension", "dimension_title"})),
    ),
    "single": (
        _TemplateSpec("single/prompt.j2", _CONTEXT | {"dimensions"}, _CONTEXT | {"dimensions"}),
        _TemplateSpec("single/reask.j2", frozenset(), frozenset({"missing"})),
    ),
}
_SYSTEM_SPEC = _TemplateSpec(SYSTEM_FILE, frozenset(), frozenset())


class RubricError(UserError):
    """A rubric set that cannot be used: the message names the directory, file and problem."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class RubricSet:
    """A validated rubric set, ready to render judge prompts."""

    directory: Path
    template_hash: str
    """sha256 (hex) over the relative path and bytes of each file of the set, in path order."""
    protocols: tuple[Protocol, ...]
    """The protocols this set has every file for."""
    system_text: str
    criteria: dict[Dimension, str]
    templates: dict[str, jinja2.Template]

    def supports(self, protocol: Protocol) -> bool:
        return protocol in self.protocols

    def system(self) -> str:
        return self.system_text

    def paper_prompt(self, *, query: str, norm: str, response: str, dimension: Dimension) -> str:
        return self._render(
            "paper/prompt.j2",
            query=query,
            norm=norm,
            response=response,
            criteria=self.criteria[dimension],
            dimension=dimension,
            dimension_title=DIMENSION_TITLES[dimension],
        )

    def paper_reask(self, dimension: Dimension) -> str:
        return self._render(
            "paper/reask.j2", dimension=dimension, dimension_title=DIMENSION_TITLES[dimension]
        )

    def single_prompt(self, *, query: str, norm: str, response: str) -> str:
        dimensions = [
            {"name": d, "title": DIMENSION_TITLES[d], "criteria": self.criteria[d]} for d in DIMENSIONS
        ]
        return self._render(
            "single/prompt.j2", query=query, norm=norm, response=response, dimensions=dimensions
        )

    def single_reask(self, missing: list[Dimension]) -> str:
        return self._render("single/reask.j2", missing=missing)

    def _render(self, name: str, **variables: Any) -> str:
        template = self.templates.get(name)
        if template is None:
            raise RubricError(f"rubric set {self.directory} has no {name}")
        return template.render(**variables).strip()


def load_rubric_set(directory: Path | None = None, protocol: Protocol | None = None) -> RubricSet:
    """Load and validate a rubric set (the built-in one when `directory` is None).

    With `protocol`, only the files that protocol needs must exist; without it, every file must.
    Raises `RubricError` naming each missing file, syntax error or placeholder problem.
    """
    root = DEFAULT_RUBRIC_DIR if directory is None else Path(directory)
    if not root.is_dir():
        raise RubricError(f"rubric directory {root} does not exist or is not a directory")

    problems: list[str] = []
    needed = list(PROTOCOLS) if protocol is None else [protocol]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)

    def read(rel: str) -> str | None:
        path = root / rel
        if not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read as UTF-8 text ({exc})")
            return None

    def compile_template(spec: _TemplateSpec, source: str) -> jinja2.Template | None:
        path = root / spec.path
        try:
            parsed = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{path}, line {exc.lineno}: template syntax error: {exc.message}")
            return None
        used = jinja2.meta.find_undeclared_variables(parsed)
        missing = sorted(spec.required - used)
        unknown = sorted(used - spec.allowed)
        if missing:
            problems.append(f"{path}: missing placeholder(s) {', '.join('{{ ' + m + ' }}' for m in missing)}")
        if unknown:
            allowed = ", ".join(sorted(spec.allowed)) or "none"
            problems.append(f"{path}: unknown placeholder(s) {', '.join(unknown)} (allowed: {allowed})")
        return env.from_string(source)

    system_source = read(SYSTEM_FILE)
    if system_source is None:
        problems.append(f"{root / SYSTEM_FILE}: missing (the evaluator framing, sent as the system message)")
    else:
        compile_template(_SYSTEM_SPEC, system_source)

    criteria: dict[Dimension, str] = {}
    for dimension, rel in CRITERIA_FILES.items():
        text = read(rel)
        if text is None:
            problems.append(f"{root / rel}: missing (the {dimension} criteria)")
        elif not text.strip():
            problems.append(f"{root / rel}: empty (the {dimension} criteria)")
        else:
            criteria[dimension] = text.strip()

    templates: dict[str, jinja2.Template] = {}
    supported: list[Protocol] = []
    for proto in PROTOCOLS:
        complete = True
        for spec in _TEMPLATE_SPECS[proto]:
            source = read(spec.path)
            if source is None:
                complete = False
                if proto in needed:
                    problems.append(f"{root / spec.path}: missing (needed by the {proto!r} protocol)")
                continue
            template = compile_template(spec, source)
            if template is None:
                complete = False
            else:
                templates[spec.path] = template
        if complete:
            supported.append(proto)

    if problems:
        raise RubricError(f"rubric set {root} is not usable:\n  " + "\n  ".join(problems))

    assert system_source is not None
    system_text = env.from_string(system_source).render().strip()
    return RubricSet(
        directory=root,
        template_hash=rubric_hash(root),
        protocols=tuple(supported),
        system_text=system_text,
        criteria=criteria,
        templates=templates,
    )


def rubric_files() -> list[str]:
    """Relative paths of every file a rubric set may hold."""
    paths = [SYSTEM_FILE, *CRITERIA_FILES.values()]
    paths += [spec.path for proto in PROTOCOLS for spec in _TEMPLATE_SPECS[proto]]
    return sorted(paths)


def rubric_hash(root: Path) -> str:
    """sha256 over the rubric files present under `root` (relative path and bytes, in path order).

    Only the files of the layout count, so editor backups or notes beside them do not change it.
    """
    digest = hashlib.sha256()
    for rel in rubric_files():
        path = root / rel
        if path.is_file():
            digest.update(rel.encode("utf-8"))
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()
