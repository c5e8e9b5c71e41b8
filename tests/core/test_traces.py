"""Trace readers: hand-made Philly CSV and SWF files, malformed lines, and the real traces when present."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from aifactory.core.exceptions import InvalidInput, TraceError
from aifactory.core.traces import read_philly_csv, read_swf, read_trace, trace_from_arrays

HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "gpu-traces"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_philly_csv(tmp_path):
    p = write(tmp_path, "t.csv", HEADER
              + "2017-10-09 07:01:55,66.0,1,66.0,vcA\n"
              + "2017-10-09 06:13:03,2951.0,4,11804.0,vcB\n"
              + "2017-10-09 06:13:03,10.0,2,20.0,vcA\n\n")
    t = read_trace(p)
    assert len(t) == 3
    # sorted by submission, ties in file order; seconds from the first submission
    assert t.submit_s.tolist() == [0.0, 0.0, 2932.0]
    assert t.duration_s.tolist() == [2951.0, 10.0, 66.0]
    assert t.gpus.tolist() == [4, 2, 1]
    assert [t.projects[i] for i in t.project] == ["vcB", "vcA", "vcA"]
    assert t.origin == float(np.datetime64("2017-10-09T06:13:03", "s").astype(np.int64))
    assert t.gpu_seconds == 2951 * 4 + 10 * 2 + 66
    assert t.span_s == 2932.0
    assert dict(t.skipped) == {}
    assert not t.submit_s.flags.writeable


@pytest.mark.parametrize("line, lineno, field", [
    ("2017-10-09 07:01:55,abc,1,66.0,vcA", 3, "duration"),
    ("2017-10-09 07:01:55,-5,1,66.0,vcA", 3, "duration"),
    ("2017-10-09 07:01:55,66.0,1.5,66.0,vcA", 3, "num_gpus"),
    ("2017-10-09 07:01:55,66.0,0,66.0,vcA", 3, "num_gpus"),
    ("2017-10-09 07:01:55,66.0,1,66.0,", 3, "cluster"),
    ("yesterday,66.0,1,66.0,vcA", 3, "timestamp"),
    ("2017-10-09 07:01:55,66.0,1,66.0", 3, "line"),
])
def test_philly_malformed_line_names_file_line_and_field(tmp_path, line, lineno, field):
    p = write(tmp_path, "bad.csv", HEADER + "2017-10-09 07:01:55,66.0,1,66.0,vcA\n" + line + "\n")
    with pytest.raises(TraceError) as err:
        read_philly_csv(p)
    assert (err.value.path, err.value.line, err.value.field) == (str(p), lineno, field)
    assert f"{p}:{lineno}" in str(err.value)


def test_philly_header_must_name_the_columns(tmp_path):
    with pytest.raises(TraceError) as err:
        read_philly_csv(write(tmp_path, "h.csv", "time,dur,gpus\n1,2,3\n"))
    assert err.value.line == 1 and err.value.field == "header"


SWF = """; Version: 2
; a comment
1   0  -1  100  4 -1 -1  4 -1 -1 1  7  3 -1 0 -1 -1 -1
2  10  -1   -1  8 -1 -1  8 -1 -1 1  7  3 -1 0 -1 -1 -1
3   5  -1   50 -1 -1 -1  2 -1 -1 1 -1  9 -1 0 -1 -1 -1
4  20  -1   30 -1 -1 -1 -1 -1 -1 1  8  3 -1 0 -1 -1 -1
5  30  -1   20  1 -1 -1  1 -1 -1 1 -1 -1 -1 0 -1 -1 -1
"""


def test_swf_records_and_skips_counted(tmp_path):
    t = read_swf(write(tmp_path, "t.swf", SWF))
    assert t.submit_s.tolist() == [0.0, 5.0, 30.0]
    assert t.duration_s.tolist() == [100.0, 50.0, 20.0]
    assert t.gpus.tolist() == [4, 2, 1]  # allocated processors, else requested
    assert [t.projects[i] for i in t.project] == ["user-7", "group-9", "unknown"]
    assert dict(t.skipped) == {"run time unknown": 1, "processors unknown": 1}


def test_swf_by_group_and_gzip(tmp_path):
    p = tmp_path / "t.swf.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(SWF)
    t = read_trace(p)
    assert len(t) == 3
    g = read_swf(p, project_by="group")
    assert [g.projects[i] for i in g.project] == ["group-3", "group-9", "unknown"]


@pytest.mark.parametrize("line, field", [
    ("6 40 -1 20 1 -1 -1 1 -1 -1 1 1 1 -1 0 -1 -1", "line"),
    ("6 forty -1 20 1 -1 -1 1 -1 -1 1 1 1 -1 0 -1 -1 -1", "submit time"),
    ("6 40 -1 20 1.5 -1 -1 1 -1 -1 1 1 1 -1 0 -1 -1 -1", "allocated processors"),
    ("6 40 -1 -7 1 -1 -1 1 -1 -1 1 1 1 -1 0 -1 -1 -1", "run time"),
])
def test_swf_malformed_line(tmp_path, line, field):
    p = write(tmp_path, "bad.swf", SWF + line + "\n")
    with pytest.raises(TraceError) as err:
        read_swf(p)
    assert (err.value.line, err.value.field) == (8, field)


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(InvalidInput):
        read_trace(write(tmp_path, "t.txt", "x"))
    with pytest.raises(InvalidInput):
        read_trace(tmp_path / "missing.csv")


def test_head_and_from_arrays():
    t = trace_from_arrays("x", [5.0, 1.0, 3.0], [1.0, 2.0, 3.0], [1, 2, 4], [0, 1, 0], ("a", "b"))
    assert t.submit_s.tolist() == [0.0, 2.0, 4.0]
    assert t.origin == 1.0
    h = t.head(2)
    assert h.gpus.tolist() == [2, 4]
    assert h.submit_s.tolist() == [0.0, 2.0]
    with pytest.raises(InvalidInput):
        trace_from_arrays("x", [0.0], [1.0], [0], [0], ("a",))
    with pytest.raises(InvalidInput):
        trace_from_arrays("x", [0.0], [1.0], [1], [1], ("a",))


PHILLY = SHARED / "philly" / "sia_philly_jobs.csv"


@pytest.mark.skipif(not PHILLY.is_file(), reason="shared Philly trace not present")
def test_real_philly_trace_loads_fast():
    start = time.perf_counter()
    t = read_trace(PHILLY)
    elapsed = time.perf_counter() - start
    assert len(t) == 82_247
    assert len(t.projects) == 15
    assert elapsed < 2.0


NASA = SHARED / "swf" / "NASA-iPSC-1993-3.1-cln.swf.gz"


@pytest.mark.skipif(not NASA.is_file(), reason="shared SWF trace not present")
def test_real_swf_trace_loads():
    t = read_trace(NASA)
    assert len(t) + sum(t.skipped.values()) == 18_239
    assert int(t.gpus.max()) == 128
