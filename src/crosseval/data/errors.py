"""Problems found in benchmark files: `DataProblem` (collected by validation) and `DataError` (raised by loading).

Every problem names the file, the record's 0-based position, its `index`, the field and what is wrong,
so a user can find and fix it without reading a traceback. Text that cannot be printed as UTF-8 (a lone
surrogate in a field name, a file name that is not UTF-8) is shown with backslash escapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from crosseval.errors import UserError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class DataProblem:
    """One thing wrong (or suspicious, for warnings) in a data file or its images."""

    file: str
    problem: str
    position: int | None = None
    """0-based position of the record in its file."""
    index: str | None = None
    """The record's upstream `index`, when it has one."""
    field: str | None = None
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"

    def __post_init__(self) -> None:
        for name in ("file", "problem", "index", "field"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, printable(value))

    def describe(self) -> str:
        """A one-line, human-readable description naming file, record and field."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        parts = [where]
        if self.position is not None:
            parts.append(f"record {self.position}")
        if self.index is not None:
            parts.append(f"index {_quoted(self.index)}")
        if self.field is not None:
            parts.append(f"field {_quoted(self.field)}")
        prefix = "warning" if self.severity == "warning" else "error"
        return f"{prefix}: {', '.join(parts)}: {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quoted(text: str) -> str:
    return f"'{text}'" if text.isprintable() else repr(text)


def printable(text: str) -> str:
    """`text` with lone surrogates written as backslash escapes, so that it can be printed and encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class DataError(UserError):
    """Bad benchmark input: raised by `load_benchmark` for the first error it meets (exit code 1)."""

    def __init__(
        self,
        file: str,
        problem: str,
        *,
        position: int | None = None,
        index: str | None = None,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = DataProblem(file, problem, position, index, field, line, column)
        self.file = where.file
        self.problem = where.problem
        self.position = position
        self.index = where.index
        self.field = where.field
        self.line = line
        self.column = column
        super().__init__(where.describe().removeprefix("error: "))

    @classmethod
    def from_problem(cls, problem: DataProblem) -> DataError:
        where = {k: v for k, v in problem.as_dict().items() if k not in ("file", "problem", "severity")}
        return cls(problem.file, problem.problem, **where)

    def to_problem(self) -> DataProblem:
        return DataProblem(
            self.file, self.problem, self.position, self.index, self.field, self.line, self.column
        )
