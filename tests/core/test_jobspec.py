"""The job spec: YAML and JSON, strict validation with the field named, canonical form, durations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.core import jobspec
from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobspec import (
    JobSpec,
    Resources,
    check_image,
    check_paths,
    parse_duration,
    parse_spec,
    spec_from_dict,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs"

FULL = """\
name: finetune-7b
resources:
  gpu: a100
  gpu_memory_gb: 40
  gpus_per_node: 4
  nodes: 2
  time_limit: 2h
  estimate: 1h30m
image: docker://nvcr.io/nvidia/pytorch:24.05-py3
commands:
  - python train.py --epochs "$EPOCHS"
  - |
    echo done
    ls checkpoints
env:
  EPOCHS: "3"
inputs:
  - /data/tokens/
outputs:
  - checkpoints/
  - metrics.json
"""


def minimal(**changes: object) -> dict[str, object]:
    spec: dict[str, object] = {"name": "t", "resources": {"time_limit": 600}, "commands": ["true"]}
    spec.update(changes)
    return spec


def refused(data: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        spec_from_dict(data)
    return caught.value


def test_a_full_spec_in_yaml():
    spec = parse_spec(FULL)
    assert spec.name == "finetune-7b"
    assert spec.resources == Resources(time_limit_s=7200, gpus_per_node=4, nodes=2, gpu="A100", gpu_memory_gb=40.0,
                                       estimate_s=5400)
    assert spec.resources.gpus == 8
    assert spec.image == "docker://nvcr.io/nvidia/pytorch:24.05-py3"
    assert spec.commands == ('python train.py --epochs "$EPOCHS"', "echo done\nls checkpoints")
    assert dict(spec.env) == {"EPOCHS": "3"}
    assert spec.inputs == ("/data/tokens",) and spec.outputs == ("checkpoints", "metrics.json")
    assert spec.script() == 'set -e\npython train.py --epochs "$EPOCHS"\necho done\nls checkpoints\n'
    request = spec.request()
    assert (request.gpus, request.estimate_s, request.time_limit_s, request.gpu_type, request.min_gpu_memory_gb) == (
        8, 5400.0, 7200.0, "A100", 40.0)


def test_the_same_spec_in_json_and_the_canonical_form_round_trips():
    spec = parse_spec(FULL)
    again = parse_spec(json.dumps(spec.to_dict()))
    assert again == spec
    assert spec_from_dict(spec.to_dict()) == spec


def test_defaults():
    spec = spec_from_dict(minimal())
    assert spec.resources == Resources(time_limit_s=600)
    assert (spec.image, dict(spec.env), spec.inputs, spec.outputs) == (None, {}, (), ())
    assert spec.request().gpu_type is None and spec.request().estimate_s == 600.0
    assert spec_from_dict(minimal(resources={"time_limit": 600, "gpu": "any"})).resources.gpu is None


def test_commands_may_be_one_block_of_text():
    assert spec_from_dict(minimal(commands="echo a\necho b\n")).commands == ("echo a\necho b",)


def test_crlf_is_read_as_lf():
    assert spec_from_dict(minimal(commands=["echo a\r\necho b"])).commands == ("echo a\necho b",)


@pytest.mark.parametrize(("text", "seconds"), [
    (90, 90), (90.0, 90), ("90", 90), ("90s", 90), ("45m", 2700), ("2h", 7200), ("1d", 86400), ("1h30m", 5400),
    ("1d2h3m4s", 93784), ("02:00:00", 7200), ("1-00:00:00", 86400), (" 2H ", 7200),
])
def test_durations(text, seconds):
    assert parse_duration(text, "t") == seconds


@pytest.mark.parametrize("text", ["", "h", "2 hours", "1.5h", "-1", "1h-1m", "25:61:00", True, None, [], 1.5,
                                  float("inf"), "1e3"])
def test_bad_durations(text):
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text, "resources.time_limit")
    assert caught.value.field == "resources.time_limit"


@pytest.mark.parametrize(("data", "field"), [
    ([], "spec"),
    ("name: x", "spec"),
    (minimal(extra=1), "extra"),
    (minimal(Name="x"), "Name"),
    ({"resources": {"time_limit": 60}, "commands": ["x"]}, "name"),
    ({"name": "x", "commands": ["x"]}, "resources"),
    ({"name": "x", "resources": {"time_limit": 60}}, "commands"),
    (minimal(name=None), "name"),
    (minimal(name=""), "name"),
    (minimal(name="a b"), "name"),
    (minimal(name="-x"), "name"),
    (minimal(name="x" * 65), "name"),
    (minimal(name=7), "name"),
    (minimal(resources={"time_limit": 600, "cpus": 4}), "resources.cpus"),
    (minimal(resources={}), "resources.time_limit"),
    (minimal(resources={"time_limit": 59}), "resources.time_limit"),
    (minimal(resources={"time_limit": "8d"}), "resources.time_limit"),
    (minimal(resources={"time_limit": "soon"}), "resources.time_limit"),
    (minimal(resources={"time_limit": 600, "gpus_per_node": 0}), "resources.gpus_per_node"),
    (minimal(resources={"time_limit": 600, "gpus_per_node": 65}), "resources.gpus_per_node"),
    (minimal(resources={"time_limit": 600, "gpus_per_node": 1.0}), "resources.gpus_per_node"),
    (minimal(resources={"time_limit": 600, "gpus_per_node": True}), "resources.gpus_per_node"),
    (minimal(resources={"time_limit": 600, "gpus_per_node": "4"}), "resources.gpus_per_node"),
    (minimal(resources={"time_limit": 600, "nodes": 0}), "resources.nodes"),
    (minimal(resources={"time_limit": 600, "nodes": 513}), "resources.nodes"),
    (minimal(resources={"time_limit": 600, "nodes": 512, "gpus_per_node": 4}), "resources.nodes"),
    (minimal(resources={"time_limit": 600, "gpu": "A100; rm -rf /"}), "resources.gpu"),
    (minimal(resources={"time_limit": 600, "gpu": 100}), "resources.gpu"),
    (minimal(resources={"time_limit": 600, "gpu_memory_gb": 0}), "resources.gpu_memory_gb"),
    (minimal(resources={"time_limit": 600, "gpu_memory_gb": "40"}), "resources.gpu_memory_gb"),
    (minimal(resources={"time_limit": 600, "gpu_memory_gb": float("nan")}), "resources.gpu_memory_gb"),
    (minimal(resources={"time_limit": 600, "gpu_memory_gb": float("inf")}), "resources.gpu_memory_gb"),
    (minimal(resources={"time_limit": 600, "gpu_memory_gb": 10**400}), "resources.gpu_memory_gb"),
    (minimal(resources={"time_limit": 10**400}), "resources.time_limit"),
    (minimal(resources={"time_limit": 600, "nodes": 10**400}), "resources.nodes"),
    (minimal(resources={"time_limit": 600, "estimate": 0}), "resources.estimate"),
    (minimal(resources="big"), "resources"),
    (minimal(commands=[]), "commands"),
    (minimal(commands={"a": "b"}), "commands"),
    (minimal(commands=["  "]), "commands[0]"),
    (minimal(commands=["ok", 3]), "commands[1]"),
    (minimal(commands=["a\rb"]), "commands[0]"),
    (minimal(commands=["a\x00"]), "commands[0]"),
    (minimal(commands=["x" * 70000]), "commands"),
    (minimal(commands=["x"] * 257), "commands"),
    (minimal(env=["A=1"]), "env"),
    (minimal(env={"1A": "x"}), "env"),
    (minimal(env={"A-B": "x"}), "env"),
    (minimal(env={"A;B": "x"}), "env"),
    (minimal(env={"A": 3}), "env.A"),
    (minimal(env={"A": True}), "env.A"),
    (minimal(env={"A": None}), "env.A"),
    (minimal(env={"A": "v" * 4097}), "env.A"),
    (minimal(env={"A": "x\x00"}), "env.A"),
    (minimal(env={f"V{i}": "x" for i in range(65)}), "env"),
    (minimal(env={"BASH_ENV": "/tmp/x"}), "env.BASH_ENV"),
    (minimal(env={"PATH": "/tmp"}), "env.PATH"),
    (minimal(env={"LD_PRELOAD": "/tmp/x.so"}), "env.LD_PRELOAD"),
    (minimal(env={"IFS": "x"}), "env.IFS"),
    (minimal(env={"SLURM_JOB_ID": "1"}), "env.SLURM_JOB_ID"),
    (minimal(env={"APPTAINER_BIND": "/:/host"}), "env.APPTAINER_BIND"),
    (minimal(env={"AIF_JOB_UID": "x"}), "env.AIF_JOB_UID"),
    (minimal(image=""), "image"),
    (minimal(image=3), "image"),
    (minimal(image="ubuntu"), "image"),
    (minimal(image="http://x/y.sif"), "image"),
    (minimal(image="docker://x y"), "image"),
    (minimal(image="docker://x';id;'"), "image"),
    (minimal(image="docker://$(id)"), "image"),
    (minimal(image="docker://x`id`"), "image"),
    (minimal(image="docker://../x"), "image"),
    (minimal(image="/images/x.tar"), "image"),
    (minimal(image="/images/../etc/x.sif"), "image"),
    (minimal(image="/images/a b.sif"), "image"),
    (minimal(image="docker://" + "x" * 600), "image"),
    (minimal(inputs="/data"), "inputs"),
    (minimal(inputs=["data"]), "inputs[0]"),
    (minimal(inputs=["/"]), "inputs[0]"),
    (minimal(inputs=["/data/../etc"]), "inputs[0]"),
    (minimal(inputs=["/data/./x"]), "inputs[0]"),
    (minimal(inputs=["/data:/etc"]), "inputs[0]"),
    (minimal(inputs=["/data,/etc"]), "inputs[0]"),
    (minimal(inputs=["/da ta"]), "inputs[0]"),
    (minimal(inputs=["/data/$(id)"]), "inputs[0]"),
    (minimal(inputs=["/data/-rf"]), "inputs[0]"),
    (minimal(inputs=["/a", "/a/"]), "inputs[1]"),
    (minimal(inputs=[f"/d{i}" for i in range(33)]), "inputs"),
    (minimal(outputs=["/abs"]), "outputs[0]"),
    (minimal(outputs=["../up"]), "outputs[0]"),
    (minimal(outputs=["a/../../b"]), "outputs[0]"),
    (minimal(outputs=["-rf"]), "outputs[0]"),
    (minimal(outputs=["x;rm"]), "outputs[0]"),
    (minimal(outputs=[""]), "outputs[0]"),
    (minimal(outputs=[3]), "outputs[0]"),
])
def test_refusals_name_the_field(data, field):
    assert refused(data).field == field


@pytest.mark.parametrize(("text", "words"), [
    ("{", "not valid JSON"),
    ('{"name": NaN}', "NaN"),
    ("name: [unclosed", "not valid YAML"),
    ("a: &x 1\nb: *x\n", "aliases"),
    ("name: !!python/object:os.system x\n", "tags"),
    ("name: !custom x\n", "tags"),
    ("\x00", "NUL"),
    (b"\xff\xfe", "UTF-8"),
    ("x: " + "y" * 300_000, "larger"),
    ('{"a":' * 50_000, "nested too deeply"),
    ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)), "spec"),
])
def test_bad_documents(text, words):
    with pytest.raises(InvalidInput) as caught:
        parse_spec(text)
    assert caught.value.field == "spec"
    assert words in caught.value.message


def test_yaml_values_that_are_not_text_are_refused_with_a_hint():
    error = refused(minimal(env={"DEBUG": True}))
    assert "write it in quotes" in error.message
    with pytest.raises(InvalidInput) as caught:
        parse_spec("name: t\nresources: {time_limit: 600}\ncommands: [true]\n")
    assert caught.value.field == "commands[0]"


def test_values_that_look_like_shell_are_kept_as_data():
    evil = "$(touch /tmp/pwned); `id`; ' \" \\ \n"
    spec = spec_from_dict(minimal(env={"MSG": evil}))
    assert spec.env["MSG"] == evil


def test_check_helpers_are_the_same_rules():
    assert check_image("/images/pytorch-24.05.sif") == "/images/pytorch-24.05.sif"
    assert check_image("oras://ghcr.io/org/img@sha256:abc") == "oras://ghcr.io/org/img@sha256:abc"
    assert check_paths(["/a/b/", "/c"], "inputs", absolute=True) == ("/a/b", "/c")
    assert check_paths(["out/", "m.json"], "outputs", absolute=False) == ("out", "m.json")
    assert check_paths(None, "outputs", absolute=False) == ()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.json")),
                         ids=lambda p: p.name)
def test_the_examples_parse(path):
    spec = parse_spec(path.read_text(encoding="utf-8"))
    assert isinstance(spec, JobSpec)
    assert spec_from_dict(spec.to_dict()) == spec


def test_there_are_examples():
    assert len(list(EXAMPLES.glob("*.yaml"))) >= 2


names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
# Lone surrogates (category Cs) are refused, naming the field (tests below), so the values that round-trip have none.
env_values = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=50)


@given(name=names, per_node=st.integers(1, 64), nodes=st.integers(1, 16), limit=st.integers(60, 7 * 86400),
       env=st.dictionaries(st.from_regex(r"\A[A-Z][A-Z0-9_]{0,10}\Z").filter(lambda k: not k.startswith(
           ("AIF", "SLURM", "SBATCH", "APPTAINER", "SINGULARITY", "BASH")) and k not in (
           "PATH", "HOME", "IFS", "ENV", "SHELL", "SHELLOPTS", "BASHOPTS", "PS4", "CDPATH", "GLOBIGNORE", "TMOUT")),
           env_values, max_size=5))
def test_canonical_form_round_trips(name, per_node, nodes, limit, env):
    spec = spec_from_dict({"name": name, "resources": {"gpus_per_node": per_node, "nodes": nodes, "time_limit": limit},
                           "commands": ["true"], "env": env})
    assert spec_from_dict(spec.to_dict()) == spec
    assert parse_spec(json.dumps(spec.to_dict())) == spec
    assert spec.resources.gpus == per_node * nodes


# --- bounded reading: a hostile document is refused before the YAML or JSON reader does work that grows with it ---

HEAD = "name: x\nresources: {time_limit: 60}\n"


@pytest.mark.parametrize(("text", "words"), [
    (HEAD + "commands: " + "[" * 40_000 + "]" * 40_000, "nested too deeply"),
    (HEAD + "commands: " + "{a: " * 40_000, "nested too deeply"),
    (HEAD + "commands:\n" + "".join(" " * i + "- \n" for i in range(100)), "nested too deeply"),
    ('{"name": "x", "commands": ' + "[" * 100 + "]" * 100 + "}", "nested too deeply"),
    (HEAD + "commands:\n" + "- a\n" * 20_000, "more than 10000 values"),
    ('{"name": "x", "commands": [' + ", ".join(['"a"'] * 30_000) + "]}", "more than 10000 values"),
])
def test_a_hostile_document_is_refused_before_it_is_read(text, words, monkeypatch):
    import yaml as pyyaml

    monkeypatch.setattr(pyyaml, "load", lambda *a, **k: pytest.fail("the whole document was read"))
    monkeypatch.setattr(jobspec.json, "loads", lambda *a, **k: pytest.fail("the whole document was read"))
    with pytest.raises(InvalidInput) as caught:
        parse_spec(text)
    assert caught.value.field == "spec" and words in caught.value.message


@pytest.mark.parametrize(("text", "field"), [
    (HEAD.replace("60", "9" * 5000) + "commands: [a]", "resources.time_limit"),
    (HEAD.replace("60", "'" + "9" * 5000 + "'") + "commands: [a]", "resources.time_limit"),
    (HEAD.replace("60", "'" + "9" * 5000 + "h'") + "commands: [a]", "resources.time_limit"),
    (HEAD.replace("60", "'9" + "9" * 5000 + ":00:00'") + "commands: [a]", "resources.time_limit"),
    (HEAD.replace("60}", "60, estimate: " + "1" * 5000 + "}") + "commands: [a]", "resources.estimate"),
    (HEAD.replace("60}", "60, nodes: -" + "1" * 5000 + "}") + "commands: [a]", "resources.nodes"),
    (HEAD.replace("60}", "60, gpu_memory_gb: 1" + "0" * 5000 + ".5}") + "commands: [a]", "resources.gpu_memory_gb"),
    ('{"name": "x", "resources": {"time_limit": ' + "9" * 5000 + '}, "commands": ["a"]}', "resources.time_limit"),
    ('{"name": "x", "resources": {"time_limit": 60, "gpus_per_node": 1' + "0" * 5000 + '}, "commands": ["a"]}',
     "resources.gpus_per_node"),
    ('{"name": "x", "resources": {"time_limit": 60}, "commands": ["\\ud800"]}', "commands[0]"),
    ('{"name": "x", "resources": {"time_limit": 60}, "commands": ["a"], "env": {"A": "\\udc00"}}', "env.A"),
    ('{"name": "x", "resources": {"time_limit": 60}, "commands": ["a"], "env": {"\\udc00": "a"}}', "env"),
])
def test_numbers_of_thousands_of_digits_and_lone_surrogates_are_refused_naming_the_field(text, field):
    with pytest.raises(InvalidInput) as caught:
        parse_spec(text)
    assert caught.value.field == field


def test_lone_surrogates_in_parsed_data_are_refused_naming_the_field():
    assert refused(minimal(commands=["echo \ud800"])).field == "commands[0]"
    assert refused(minimal(name="x\udfff")).field == "name"


def test_json_brackets_inside_texts_do_not_count_as_nesting():
    spec = parse_spec('{"name": "x", "resources": {"time_limit": 60}, "commands": ["echo \\"[[[[' + "[" * 40
                      + '\\" {{{{"]}')
    assert spec.commands[0].startswith('echo "[[[[')
