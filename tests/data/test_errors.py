from crosseval.data.errors import DataError, DataProblem
from crosseval.errors import UserError


def test_a_problem_and_its_error_carry_the_same_place() -> None:
    problem = DataProblem("casa/english.json", "missing field", position=3, index="Japan_4", field="query")
    error = DataError.from_problem(problem)
    assert (error.file, error.position, error.index, error.field) == (
        "casa/english.json",
        3,
        "Japan_4",
        "query",
    )
    assert error.to_problem() == problem
    assert str(error) == "casa/english.json, record 3, index 'Japan_4', field 'query': missing field"


def test_a_warning_raised_as_an_error_becomes_an_error() -> None:
    warning = DataProblem("x.json", "odd language", line=2, column=5, severity="warning")
    error = DataError.from_problem(warning)
    assert error.to_problem().severity == "error"
    assert str(error) == "x.json:2:5: odd language"


def test_a_data_error_is_a_user_error_that_exits_1() -> None:
    error = DataError("x.json", "bad")
    assert isinstance(error, UserError) and error.exit_code == 1
    assert error.message == str(error) == "x.json: bad"


def test_text_that_cannot_be_encoded_is_escaped() -> None:
    error = DataError("name\udcff.json", "has \ud800", index="J\ud800", field="x\udc00")
    assert str(error) == "name\\udcff.json, index 'J\\ud800', field 'x\\udc00': has \\ud800"
    assert error.to_problem().as_dict()["file"] == "name\\udcff.json"
    str(error).encode("utf-8")
