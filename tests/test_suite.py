import pytest

from gpubench.benchmarks import load_all
from gpubench.errors import SuiteError
from gpubench.suite import available_suites, load_suite, parse_suite

REG = load_all()


def parse(text):
    return parse_suite(text, "suites/x.toml", REG)


def test_bad_dtype_names_file_and_key_path():
    text = '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = 64\n\n[[benchmarks]]\nbenchmark = "matmul"\ndtype = ["fp32", "fp9"]\nm = 64\n'
    with pytest.raises(SuiteError) as e:
        parse(text)
    assert str(e.value).startswith("suites/x.toml: benchmarks[1].dtype[1]: 'fp9' is not one of fp64, fp32")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('[[benchmarks]]\nbenchmark = "matmull"\nm = 1', "benchmarks[0].benchmark: 'matmull' is not one of"),
        (
            '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"',
            "benchmarks[0]: missing required parameter 'm'",
        ),
        ('[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = "big"', "benchmarks[0].m: expected int"),
        (
            '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = 0',
            "benchmarks[0].m: 0 is below the minimum",
        ),
        (
            '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = 8\nq = 1',
            "benchmarks[0].q: unknown parameter",
        ),
        (
            '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = 8\nmin_reps = -1',
            "min_reps: must be >= 0",
        ),
        (
            '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = {range = [1, 2]}',
            "benchmarks[0].m: a table",
        ),
        ('[[benchmarks]]\nbenchmark = "matmul"\ndtype = []\nm = 8', "benchmarks[0].dtype: empty list"),
        (
            "[defaults]\nwarmup = 1\n[[benchmarks]]\nbenchmark = 'matmul'\ndtype='fp32'\nm=8",
            "defaults.warmup: unknown key",
        ),
        ('name = "x"\nbenchmarks = []', "benchmarks: needs at least one"),
        ("[[benchmarks]\n", "not valid TOML"),
        (
            'colour = 1\n[[benchmarks]]\nbenchmark = "matmul"\ndtype="fp32"\nm=8',
            "unknown top-level key(s): colour",
        ),
    ],
)
def test_validation_errors(text, fragment):
    with pytest.raises(SuiteError) as e:
        parse(text)
    assert fragment in str(e.value)
    assert str(e.value).startswith("suites/x.toml")


def test_grid_expansion_range_and_square_default():
    suite = parse(
        "[defaults]\nmin_reps = 3\n"
        '[[benchmarks]]\nbenchmark = "matmul"\ndtype = ["fp32", "bf16"]\nm = {range = [256, 768, 256]}\nn = 64\nk = 32\n'
        '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = 128\nmin_reps = 9\n'
    )
    ids = [pc.case.id for pc in suite.cases]
    assert len(ids) == 7
    assert "matmul[dtype=bf16,m=768,n=64,k=32]" in ids
    assert ids[-1] == "matmul[dtype=fp32,m=128,n=128,k=128]"  # n and k default to m
    assert suite.cases[0].timing.min_reps == 3 and suite.cases[-1].timing.min_reps == 9


def test_duplicate_cases_run_once():
    suite = parse('[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = [64, 64]\n')
    assert len(suite.cases) == 1


def test_memory_pinned_only_for_host_transfers():
    suite = parse(
        '[[benchmarks]]\nbenchmark = "memory"\nkind = ["d2d", "h2d"]\npinned = [true, false]\nsize_bytes = 4099\n'
    )
    ids = [pc.case.id for pc in suite.cases]
    assert ids == [
        "memory[kind=d2d,size_bytes=4096,pinned=false]",
        "memory[kind=h2d,size_bytes=4096,pinned=true]",
        "memory[kind=h2d,size_bytes=4096,pinned=false]",
    ]


@pytest.mark.parametrize("name", available_suites())
def test_shipped_suites_are_valid(name):
    suite = load_suite(name, REG)
    assert suite.cases and suite.name == name


def test_unknown_suite_lists_available():
    with pytest.raises(SuiteError, match="unknown suite 'nope'; available: .*quick"):
        load_suite("nope", REG)


def test_rounds_split_the_timing_and_are_validated(tmp_path):
    from gpubench.suite import Timing

    t = Timing(
        warmup_s=0.3,
        min_warmup=2,
        max_warmup_s=3.0,
        min_reps=10,
        min_time_s=0.9,
        max_reps=100,
        max_time_s=6.0,
        rounds=3,
    )
    first, later = t.for_round(0), t.for_round(2)
    assert (first.warmup_s, first.max_warmup_s) == (0.3, 3.0)  # the first round warms up fully
    assert later.warmup_s == pytest.approx(0.1) and later.max_warmup_s == pytest.approx(1.0)
    for r in (first, later):
        assert (r.min_reps, r.max_reps, r.rounds, r.min_warmup) == (4, 34, 1, 2)
        assert r.min_time_s == pytest.approx(0.3) and r.max_time_s == pytest.approx(2.0)
    assert Timing(rounds=1).for_round(0) == Timing(rounds=1)
    text = 'name = "r"\n[defaults]\nrounds = 4\n[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\nm = 64\n'
    suite = parse(text)
    assert suite.cases[0].timing.rounds == 4
    for bad, fragment in (("rounds = 0", "rounds: must be >= 1"), ("rounds = 1.5", "expected int")):
        with pytest.raises(SuiteError, match=fragment):
            parse(text.replace("rounds = 4", bad))
