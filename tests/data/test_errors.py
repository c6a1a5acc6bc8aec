from crosseval.data.errors import DataError, DataProblem


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
