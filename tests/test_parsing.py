"""Reply parsing: code files from fenced blocks, the judge's verdict."""

from __future__ import annotations

from naestro.parsing import extract_files, parse_verdict, render_files


def test_named_blocks_become_files() -> None:
    text = "Here:\n```python\n# file: a.py\nx = 1\n```\nand\n```python b.py\ny = 2\n```"
    files = {f.path: f.content for f in extract_files(text)}
    assert files == {"a.py": "x = 1\n", "b.py": "y = 2\n"}


def test_unnamed_blocks_are_classified() -> None:
    text = "```python\ndef f():\n    return 1\n```\n```\ndef test_f():\n    assert f() == 1\n```"
    assert [f.path for f in extract_files(text)] == ["solution.py", "test_solution.py"]


def test_traversal_names_are_not_used() -> None:
    files = extract_files("```python\n# file: ../../etc/x.py\nx = 1\n```")
    assert [f.path for f in files] == ["solution.py"]


def test_render_round_trips() -> None:
    files = extract_files("```python\n# file: a.py\nx = 1\n```")
    assert extract_files(render_files(files)) == files


def test_verdict_from_prose_with_json() -> None:
    v = parse_verdict('Sure. {"verdict": "Accept", "score": 0.8, "rationale": "ok {fine}"}')
    assert v is not None and v.verdict == "accept" and v.score == 0.8


def test_invalid_verdicts_are_none() -> None:
    assert parse_verdict("no json") is None
    assert parse_verdict('{"verdict": "maybe", "score": 0.5}') is None
    assert parse_verdict('{"verdict": "accept", "score": 7}') is None


def test_unfenced_files_are_read_by_their_headers() -> None:
    """The first real-model run: `# file:` headers, no opening fence, a stray closing one."""
    text = (
        "Here is the encoder.\n# file: solution.py\ndef rle(s):\n    return s\n\n"
        "# file: test_solution.py\nfrom solution import rle\n\n"
        "def test_rle():\n    assert rle('a') == 'a'\n```\n"
    )
    files = {f.path: f.content for f in extract_files(text)}
    assert files == {
        "solution.py": "def rle(s):\n    return s\n",
        "test_solution.py": (
            "from solution import rle\n\ndef test_rle():\n    assert rle('a') == 'a'\n"
        ),
    }


def test_a_block_cut_off_by_the_output_cap_is_kept() -> None:
    files = extract_files("```python\n# file: a.py\nx = 1\n")
    assert [(f.path, f.content.strip()) for f in files] == [("a.py", "x = 1")]


def test_prose_without_code_holds_no_files() -> None:
    assert extract_files("I would write a function that encodes runs.") == []


def test_tests_that_forget_to_import_the_solution_get_the_import() -> None:
    text = (
        "```python\n# file: solution.py\ndef f():\n    return 1\n```\n"
        "```python\n# file: test_solution.py\ndef test_f():\n    assert f() == 1\n```\n"
        "```python\n# file: test_other.py\nfrom solution import f\n\ndef test_g():\n"
        "    assert f()\n```"
    )
    files = {f.path: f.content for f in extract_files(text)}
    assert files["test_solution.py"].startswith("from solution import *")
    assert files["test_other.py"].startswith("from solution import f")


def test_one_block_holding_two_headed_files_is_two_files() -> None:
    # What Qwen2.5-Coder-1.5B wrote for the demo: both files in one fence, and a data
    # fence's closing marker copied from its prompt.
    reply = (
        "```python\n# file: solution.py\ndef f():\n    return 1\n\n"
        "# file: test_solution.py\nimport pytest\n\ndef test_f():\n    assert f() == 1\n"
        '<</untrusted id="79dae5d7c7a0">>\n```'
    )
    files = {f.path: f.content for f in extract_files(reply)}
    assert list(files) == ["solution.py", "test_solution.py"]
    assert files["solution.py"] == "def f():\n    return 1\n"
    assert (
        "def test_f" in files["test_solution.py"] and "untrusted" not in files["test_solution.py"]
    )
    assert files["test_solution.py"].startswith("from solution import *")


def test_tests_beside_a_module_of_another_name_get_its_import() -> None:
    # Qwen2.5-Coder-1.5B named its files balanced.py and test_balanced.py, no import.
    reply = (
        "# file: balanced.py\ndef balanced(s):\n    return True\n\n"
        "# file: test_balanced.py\nimport pytest\n\ndef test_b():\n    assert balanced('()')\n"
    )
    files = {f.path: f.content for f in extract_files(reply)}
    assert files["test_balanced.py"].startswith("from balanced import *")
    untouched = "# file: m.py\nx = 1\n\n# file: test_m.py\nfrom m import x\n"
    tests = {f.path: f.content for f in extract_files(untouched)}["test_m.py"]
    assert tests == "from m import x\n"


def test_headed_reply_with_only_a_closing_fence_and_prose_after_it() -> None:
    # What the 1.5B model wrote for merge_intervals: no opening fence, a closing one, prose.
    reply = (
        "# file: merge.py\ndef merge(x):\n    return x\n\n"
        "# file: test_merge.py\nfrom merge import merge\n\n"
        "def test_m():\n    assert merge(1) == 1\n"
        "```\n\nThis solution defines a function `merge` that merges intervals.\n"
    )
    files = {f.path: f.content for f in extract_files(reply)}
    assert list(files) == ["merge.py", "test_merge.py"]
    assert "This solution" not in files["test_merge.py"]
    assert files["test_merge.py"].endswith("assert merge(1) == 1\n")
