"""The job spec: what a user submits, in YAML or JSON, parsed into a frozen JobSpec and validated strictly.

    name: finetune-7b                 # 1-64 letters, digits, '.', '_', '-'; starts with a letter or digit
    resources:
      gpu: A100                       # a GPU model, or "any" (the default)
      gpu_memory_gb: 40               # optional: at least this much memory per GPU
      gpus_per_node: 4                # 1-64 (default 1)
      nodes: 2                        # 1-512 (default 1)
      time_limit: 2h                  # required: seconds, "90s", "45m", "2h", "1d", "1h30m" or "HH:MM:SS"
      estimate: 1h30m                 # optional: expected runtime on an A100 (default: the time limit)
    image: docker://nvcr.io/nvidia/pytorch:24.05-py3   # optional Apptainer image: a URI or an absolute .sif path
    commands:                         # required: bash commands, run in order, stopping at the first that fails
      - python train.py --epochs "$EPOCHS"
    env:                              # optional: text values only
      EPOCHS: "3"
    inputs:                           # optional: absolute paths at the site, checked before the job starts and
      - /data/tokens                  #           bound read-only into the container
    outputs:                          # optional: paths under the job's folder, listed with their sizes at the end
      - checkpoints/

Every level refuses keys it does not know, and every value is checked for its type, pattern and size; an error is
an InvalidInput naming the field ("resources.gpus_per_node", "env.EPOCHS", "inputs[2]").

What reaches the site's batch script, and how: the commands become the job's own file (`user.sh`), the one place
where user text runs as shell code, inside the container when there is an image. Every other value (the name, the
image, environment values, input and output paths) reaches the batch script only as data: shell-quoted words, and
patterns that leave no quote, space, `$` or backquote in names, images and paths in the first place. Environment
names that change how a shell or the container runtime behaves (BASH_ENV, IFS, LD_PRELOAD, PATH, SLURM_*, ...)
are refused.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _SafeBase  # libyaml's reader, ten times faster, where PyYAML was built with it
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _SafeBase  # type: ignore[assignment]

from aifactory.core.exceptions import InvalidInput
from aifactory.core.placement import JobRequest

MAX_SPEC_BYTES = 256 * 1024
MAX_SCRIPT_BYTES = 64 * 1024
MAX_COMMANDS = 256
MAX_ENV = 64
MAX_ENV_VALUE = 4096
MAX_PATHS = 32
MAX_GPUS_PER_NODE = 64
MAX_NODES = 512
MAX_GPUS = 1024
MIN_TIME_LIMIT_S = 60
MAX_TIME_LIMIT_S = 7 * 86400
MAX_DEPTH = 16
"""Mappings and lists inside each other: a spec needs 3 (spec, resources, a list); checked while parsing."""
MAX_VALUES = 10_000
"""Values in a document (keys, texts, numbers, lists, mappings); checked while parsing."""
MAX_BRACKETS = 64
"""Unclosed '[' and '{' anywhere in a YAML document (quoted or not), counted before PyYAML reads it: its scanner
looks up to 1,024 characters ahead on each of them, so a line of brackets would cost a second."""
MAX_DIGITS = 100
"""Digits in a whole number: a longer one is read as an infinity, which every field refuses (Python itself refuses
to read one of more than 4,300 digits, and a long one is slow to read)."""

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
GPU_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,19}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
IMAGE_URI_RE = re.compile(r"^(docker|oras|library|shub)://[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,500}$")
PATH_PART_RE = re.compile(r"^[A-Za-z0-9_@+][A-Za-z0-9._@+-]{0,254}$")
DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')
_BRACKET = re.compile(r"[\[\]{}]")
CLOCK_RE = re.compile(r"^(?:(\d+)-)?(\d{1,3}):([0-5]\d):([0-5]\d)$")

RESERVED_ENV = frozenset({
    "BASH_ENV", "ENV", "IFS", "PATH", "HOME", "SHELL", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
    "CDPATH", "GLOBIGNORE", "LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH_RPATH", "TMOUT",
})
RESERVED_ENV_PREFIXES = ("AIF_", "AIFACTORY_", "SLURM_", "SBATCH_", "APPTAINER", "SINGULARITY", "BASH_FUNC")

TOP_KEYS = frozenset({"name", "resources", "image", "commands", "env", "inputs", "outputs"})
RESOURCE_KEYS = frozenset({"gpu", "gpu_memory_gb", "gpus_per_node", "nodes", "time_limit", "estimate"})


@dataclass(frozen=True, slots=True)
class Resources:
    time_limit_s: int
    gpus_per_node: int = 1
    nodes: int = 1
    gpu: str | None = None
    """A GPU model ("A100", "H100", ...); None takes any."""
    gpu_memory_gb: float | None = None
    estimate_s: int | None = None
    """Expected runtime on an A100; None: the time limit."""

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    resources: Resources
    commands: tuple[str, ...]
    image: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def script(self) -> str:
        """The job's own file (user.sh): the commands in order, stopping at the first that fails."""
        return "set -e\n" + "\n".join(self.commands) + "\n"

    def request(self) -> JobRequest:
        """The job as the broker's placement sees it."""
        r = self.resources
        return JobRequest(gpus=r.gpus, estimate_s=float(r.estimate_s if r.estimate_s is not None else r.time_limit_s),
                          gpu_type=r.gpu, min_gpu_memory_gb=r.gpu_memory_gb, time_limit_s=float(r.time_limit_s))

    def to_dict(self) -> dict[str, Any]:
        """The spec in its canonical form; `spec_from_dict(spec.to_dict()) == spec`."""
        r = self.resources
        resources: dict[str, Any] = {"gpu": r.gpu or "any", "gpus_per_node": r.gpus_per_node, "nodes": r.nodes,
                                     "time_limit": r.time_limit_s}
        if r.gpu_memory_gb is not None:
            resources["gpu_memory_gb"] = r.gpu_memory_gb
        if r.estimate_s is not None:
            resources["estimate"] = r.estimate_s
        out: dict[str, Any] = {"name": self.name, "resources": resources, "commands": list(self.commands)}
        if self.image is not None:
            out["image"] = self.image
        if self.env:
            out["env"] = dict(self.env)
        if self.inputs:
            out["inputs"] = list(self.inputs)
        if self.outputs:
            out["outputs"] = list(self.outputs)
        return out


# --- parsing ----------------------------------------------------------------------------------------------------------


def parse_spec(text: str | bytes) -> JobSpec:
    """A JobSpec from YAML or JSON text (JSON when it starts with '{'). YAML aliases and tags are refused."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("spec", f"must be UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise InvalidInput("spec", f"is larger than {MAX_SPEC_BYTES // 1024} KiB")
    if "\x00" in text:
        raise InvalidInput("spec", "must not contain NUL characters")
    _encodable(text, "spec")
    if text.lstrip().startswith("{"):
        data = load_json(text)
    else:
        data = _load_yaml(text)
    return spec_from_dict(data)


def _encodable(text: str, where: str) -> None:
    """Text that is UTF-8 (no lone surrogates, which JSON's and YAML's \\u escapes can write)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(where, f"character {exc.start + 1} is not a Unicode character (a lone surrogate "
                                  f"{text[exc.start]!a})") from None


def _whole(digits: str) -> int | float:
    """A whole number read from text; one of more than MAX_DIGITS digits is read as an infinity, which every field
    refuses as out of its range, naming itself."""
    if sum(ch.isdigit() for ch in digits) > MAX_DIGITS:
        return -math.inf if digits.lstrip().startswith("-") else math.inf
    return int(digits)


def load_json(text: str, *, where: str = "spec", constants: bool = False) -> Any:
    """JSON text, parsed with its depth, its size and its numbers bounded, and every text in it UTF-8; refusals are
    InvalidInput naming `where`. NaN and Infinity are read as floats with `constants` (for the fields to refuse
    by name), else refused. The portal's API reads every request body with it."""

    def whole(digits: str) -> int | float:
        return _whole(digits)

    def constant(name: str) -> Any:
        raise InvalidInput(where, f"{name} is not a number JSON allows")

    depth = values = 0
    for match in _JSON_TOKEN.finditer(text):  # one pass over strings and brackets bounds the depth before parsing
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidInput(where, f"is nested too deeply (more than {MAX_DEPTH} levels)")
        elif token in "]}":
            depth = max(depth - 1, 0)
        values += 1
        if values > 2 * MAX_VALUES:
            raise InvalidInput(where, f"holds more than {MAX_VALUES} values")
    try:
        data = json.loads(text, parse_constant=float if constants else constant, parse_int=whole)
    except RecursionError:
        raise InvalidInput(where, "is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(where, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") \
            from None
    _texts_encodable(data, where)
    return data


def _texts_encodable(value: Any, where: str) -> None:
    if isinstance(value, str):
        _encodable(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _encodable(key, where)
            _texts_encodable(item, f"{where}.{key}" if where not in ("spec", "body") else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _texts_encodable(item, f"{where}[{i}]")


class _SpecLoader(_SafeBase):
    """PyYAML's safe loader (reading with libyaml, ten times faster, when PyYAML has it), reading whole numbers of
    at most MAX_DIGITS digits."""

    def construct_bounded_int(self, node: yaml.ScalarNode) -> int | float:
        if sum(ch.isdigit() for ch in str(node.value)) > MAX_DIGITS:
            return _whole(str(node.value))
        return int(self.construct_yaml_int(node))


_SpecLoader.add_constructor("tag:yaml.org,2002:int", _SpecLoader.construct_bounded_int)


def _load_yaml(text: str) -> Any:
    """YAML text without aliases or tags, its depth and size bounded while it is read: PyYAML's scanner takes time
    that grows with the square of the nesting, so a deep document is refused after its first levels, long before
    that."""
    open_brackets = 0
    for match in _BRACKET.finditer(text):
        if match.group() in "[{":
            open_brackets += 1
            if open_brackets > MAX_BRACKETS:
                raise InvalidInput("spec", f"is nested too deeply (more than {MAX_BRACKETS} unclosed '[' or '{{')")
        elif open_brackets:
            open_brackets -= 1
    depth = values = 0
    try:
        for event in yaml.parse(text, Loader=_SpecLoader):
            if isinstance(event, yaml.AliasEvent):
                raise InvalidInput("spec", "YAML aliases (*name) are not accepted in a job spec")
            tag = getattr(event, "tag", None)
            if isinstance(event, yaml.NodeEvent) and tag is not None:
                raise InvalidInput("spec", f"YAML tags ({tag}) are not accepted in a job spec")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InvalidInput("spec", f"is nested too deeply (more than {MAX_DEPTH} levels)")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if isinstance(event, yaml.NodeEvent):
                values += 1
                if values > MAX_VALUES:
                    raise InvalidInput("spec", f"holds more than {MAX_VALUES} values")
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a safe loader: SafeLoader with bounded numbers
    except RecursionError:
        raise InvalidInput("spec", "is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput("spec", f"is not valid YAML: {problem}{where}") from None
    except ValueError as exc:  # a value PyYAML reads with Python's own conversions (a date out of range ...)
        raise InvalidInput("spec", f"holds a value that cannot be read: {exc}") from None


def spec_from_dict(data: Any) -> JobSpec:
    """A JobSpec from parsed data (a mapping, as YAML or JSON give it)."""
    top = _mapping(data, "spec", TOP_KEYS, required=("name", "resources", "commands"))
    return JobSpec(
        name=_name(top["name"]),
        resources=_resources(top["resources"]),
        commands=_commands(top["commands"]),
        image=check_image(top["image"]) if top.get("image") is not None else None,
        env=_env(top.get("env")),
        inputs=check_paths(top.get("inputs"), "inputs", absolute=True),
        outputs=check_paths(top.get("outputs"), "outputs", absolute=False),
    )


SCRIPT_FORM_FIELDS = {"commands": "script", "commands[0]": "script"}


def check_script_job(
    *, name: Any, script: Any, gpus: Any, time_limit_s: Any, env: Any
) -> tuple[str, Mapping[str, str]]:
    """The script form of a job (a name, one script, GPUs on one node, a time limit in seconds, an environment),
    checked by the job spec's own rules, so that both ways of submitting refuse the same things (reserved
    environment names, carriage returns, NUL characters, lone surrogates, sizes). Returns the script and the
    environment (Windows line ends made Unix ones); a refusal names the script form's field (name, script, gpus,
    time_limit_s, env, env.NAME)."""
    try:
        _name(name)
        _commands([script])
        text = script.replace("\r\n", "\n")
        _int(gpus, "gpus", 1, MAX_GPUS)
        _int(time_limit_s, "time_limit_s", MIN_TIME_LIMIT_S, MAX_TIME_LIMIT_S)
        return text, _env(env)
    except InvalidInput as exc:
        field = SCRIPT_FORM_FIELDS.get(exc.field, exc.field)
        raise InvalidInput(field, exc.message[len(exc.field) + 2:]) from None


def _mapping(value: Any, where: str, known: frozenset[str], required: Sequence[str] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(where, f"must be a mapping of keys to values, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise InvalidInput(where, f"keys must be text, got {_kind(key)} {key!r}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidInput(_join(where, unknown[0]), f"unknown key; known keys: {', '.join(sorted(known))}")
    for key in required:
        if key not in value or value[key] is None:
            raise InvalidInput(_join(where, key), "is required")
    return value


def _join(where: str, key: str) -> str:
    return key if where == "spec" else f"{where}.{key}"


def _kind(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping",
            type(None): "nothing"}.get(type(value), type(value).__name__)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(where, f"must be text, got {_kind(value)}" + (" (write it in quotes)" if isinstance(
            value, bool | int | float) else ""))
    if "\x00" in value:
        raise InvalidInput(where, "must not contain NUL characters")
    _encodable(value, where)
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(where, f"must be a whole number, got {_kind(value)}")
    if not low <= value <= high:
        raise InvalidInput(where, f"must be between {low} and {high}, got {value}")
    return value


def _name(value: Any) -> str:
    name = _text(value, "name")
    if not NAME_RE.match(name):
        raise InvalidInput("name", "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def parse_duration(value: Any, where: str) -> int:
    """Seconds from a whole number of seconds, "90s", "45m", "2h", "1d", "1h30m", "HH:MM:SS" or "D-HH:MM:SS"."""
    if isinstance(value, bool):
        raise InvalidInput(where, "must be a duration, got true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InvalidInput(where, f"must be a whole number of seconds, got {value}")
        return int(value)
    text = _text(value, where).strip().lower()
    if len(text) > MAX_DIGITS:
        raise InvalidInput(where, f"{text[:20]!r}... is not a duration: at most {MAX_DIGITS} characters")
    if text.isascii() and text.isdigit():
        return int(text)
    match = DURATION_RE.match(text) if text else None
    if match and any(match.groups()):
        d, h, m, s = (int(g) if g else 0 for g in match.groups())
        return ((d * 24 + h) * 60 + m) * 60 + s
    clock = CLOCK_RE.match(text)
    if clock:
        d = int(clock.group(1) or 0)
        return ((d * 24 + int(clock.group(2))) * 60 + int(clock.group(3))) * 60 + int(clock.group(4))
    raise InvalidInput(where, f"{value!r} is not a duration (seconds, '90m', '2h', '1h30m', '1d' or 'HH:MM:SS')")


def _resources(value: Any) -> Resources:
    r = _mapping(value, "resources", RESOURCE_KEYS, required=("time_limit",))
    gpu: str | None = None
    if r.get("gpu") is not None:
        gpu_text = _text(r["gpu"], "resources.gpu").strip()
        if gpu_text.lower() != "any":
            if not GPU_RE.match(gpu_text):
                raise InvalidInput("resources.gpu", "a GPU model such as A100, H100, GH200, MI250X, or 'any'")
            gpu = gpu_text.upper()
    memory: float | None = None
    if r.get("gpu_memory_gb") is not None:
        raw = r["gpu_memory_gb"]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= 1024:  # NaN fails too
            raise InvalidInput("resources.gpu_memory_gb", "must be a number of GB above 0 and at most 1024")
        memory = float(raw)
    per_node = _int(r.get("gpus_per_node", 1), "resources.gpus_per_node", 1, MAX_GPUS_PER_NODE)
    nodes = _int(r.get("nodes", 1), "resources.nodes", 1, MAX_NODES)
    if per_node * nodes > MAX_GPUS:
        raise InvalidInput("resources.nodes", f"{nodes} nodes x {per_node} GPUs is more than {MAX_GPUS} GPUs")
    limit = parse_duration(r["time_limit"], "resources.time_limit")
    if not MIN_TIME_LIMIT_S <= limit <= MAX_TIME_LIMIT_S:
        raise InvalidInput("resources.time_limit",
                           f"must be between {MIN_TIME_LIMIT_S} s and {MAX_TIME_LIMIT_S // 86400} days, got {limit} s")
    estimate: int | None = None
    if r.get("estimate") is not None:
        estimate = parse_duration(r["estimate"], "resources.estimate")
        if not 1 <= estimate <= MAX_TIME_LIMIT_S:
            raise InvalidInput("resources.estimate", f"must be between 1 s and {MAX_TIME_LIMIT_S // 86400} days")
    return Resources(time_limit_s=limit, gpus_per_node=per_node, nodes=nodes, gpu=gpu, gpu_memory_gb=memory,
                     estimate_s=estimate)


def _commands(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InvalidInput("commands", f"must be a list of commands (or one block of text), got {_kind(value)}")
    if not items:
        raise InvalidInput("commands", "must hold at least one command")
    if len(items) > MAX_COMMANDS:
        raise InvalidInput("commands", f"at most {MAX_COMMANDS} commands")
    out: list[str] = []
    for i, item in enumerate(items):
        where = f"commands[{i}]"
        text = _text(item, where).replace("\r\n", "\n")
        if "\r" in text:
            raise InvalidInput(where, "must not contain carriage returns (use Unix line ends)")
        if not text.strip():
            raise InvalidInput(where, "must not be empty")
        out.append(text.rstrip("\n"))
    if len(("\n".join(out)).encode("utf-8")) > MAX_SCRIPT_BYTES:
        raise InvalidInput("commands", f"at most {MAX_SCRIPT_BYTES // 1024} KiB in all")
    return tuple(out)


def check_image(value: Any) -> str:
    """An Apptainer image reference, checked: a docker://, oras://, library:// or shub:// URI, or a .sif path."""
    image = _text(value, "image")
    if len(image) > 512:
        raise InvalidInput("image", "at most 512 characters")
    if image.startswith("/"):
        parts = image[1:].split("/")
        if parts[-1].endswith((".sif", ".simg")) and all(PATH_PART_RE.match(p) and p not in (".", "..")
                                                          for p in parts):
            return image
        raise InvalidInput("image", "an absolute path must name a .sif (or .simg) file, with letters, digits and "
                                    "'.', '_', '-', '+', '@' only")
    if IMAGE_URI_RE.match(image) and ".." not in image:
        return image
    raise InvalidInput("image", "an Apptainer image: docker://, oras://, library:// or shub:// followed by a name "
                                "(letters, digits, '.', '_', '-', '/', ':', '@', '+'), or an absolute .sif path")


def _env(value: Any) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise InvalidInput("env", f"must be a mapping of names to text values, got {_kind(value)}")
    if len(value) > MAX_ENV:
        raise InvalidInput("env", f"at most {MAX_ENV} variables")
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            raise InvalidInput("env", f"{key!r} is not a valid variable name (letters, digits, '_'; not a digit first)")
        if key in RESERVED_ENV or key.startswith(RESERVED_ENV_PREFIXES):
            raise InvalidInput(f"env.{key}", "is reserved: it changes how the site's shell, scheduler or container "
                                             "runtime behaves")
        text = _text(raw, f"env.{key}")
        if len(text) > MAX_ENV_VALUE:
            raise InvalidInput(f"env.{key}", f"at most {MAX_ENV_VALUE} characters")
        out[key] = text
    return MappingProxyType(out)


def check_paths(value: Any, where: str, *, absolute: bool) -> tuple[str, ...]:
    """Input paths (absolute, at the site) or output paths (under the job's folder), checked and normalised."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(where, f"must be a list of paths, got {_kind(value)}")
    if len(value) > MAX_PATHS:
        raise InvalidInput(where, f"at most {MAX_PATHS} paths")
    out: list[str] = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        path = _text(item, at)
        if len(path) > 1024:
            raise InvalidInput(at, "at most 1024 characters")
        if absolute != path.startswith("/"):
            raise InvalidInput(at, "must be an absolute path at the site" if absolute
                               else "must be a path under the job's folder (not starting with '/')")
        parts = path.strip("/").split("/")
        if not path.strip("/") or not all(PATH_PART_RE.match(p) and p not in (".", "..") for p in parts):
            raise InvalidInput(at, "letters, digits and '.', '_', '-', '+', '@' between slashes; no '.' or '..' parts")
        clean = ("/" if absolute else "") + "/".join(parts)
        if clean in out:
            raise InvalidInput(at, f"{clean} is listed twice")
        out.append(clean)
    return tuple(out)
