"""Functions under test that use `assert`, kept out of the test modules:
pytest rewrites the assert statements of test modules into code that calls
locals(), and psyco leaves functions calling locals() to the interpreter."""


def assertion(x):
    assert x > 0, "must be positive"
    return x


def assert_positive(x):
    assert x > 0, f"not positive: {x}"
    return x
