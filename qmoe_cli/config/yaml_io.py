"""Safe YAML: the C parser where built, YAML 1.2 numbers, no duplicate keys, bounded
expansion of aliases; and the dumper configs are written with."""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel

MAX_CONFIG_BYTES = 1_000_000  # 1 MB: a config is a few kB; a larger file is a mistake
MAX_YAML_VALUES = 100_000  # values of a YAML document with its aliases expanded


class YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # C parser if built
    """PyYAML's safe loader with YAML 1.2 numbers and no duplicate keys.

    YAML 1.1 (PyYAML) reads 1e9, 1e-3 and 1E+3 as strings: they are floats here, as in
    YAML 1.2 (an int field takes an integral float such as 1e3). A key given twice in one
    mapping is an error naming it and its lines, not the last one silently winning.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: the constructor reports it
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key '{key}', first given on line {first.start_mark.line + 1}",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)[eE][-+]?[0-9]+
        |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class YamlDumper(yaml.SafeDumper):
    """Quotes the strings YamlLoader reads as numbers (name: '1e3'), so a dumped config
    reads back the same."""

    yaml_implicit_resolvers = YamlLoader.yaml_implicit_resolvers


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document (YamlLoader); yaml.YAMLError or ValueError (too many values
    once aliases are expanded, e.g. a billion-laughs file) on bad input."""
    loader = YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_values(node)
        return loader.construct_document(node)
    except RecursionError:
        raise ValueError("the YAML is nested too deeply") from None
    finally:
        loader.dispose()


def _count_values(root) -> None:
    """Count the nodes of a composed YAML document as constructing it would visit them,
    each alias expanded, and stop at MAX_YAML_VALUES (iterative, with the counts of shared
    nodes memoised, so a billion laughs is counted in microseconds)."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        if id(node) in sizes and not done:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if not done:
            if id(node) in active:
                raise ValueError("a YAML alias refers to a node that contains it")
            active.add(id(node))
            stack.append((node, True))
            for child in children:
                if id(child) in active:
                    raise ValueError("a YAML alias refers to a node that contains it")
                stack.append((child, False))
            continue
        active.discard(id(node))
        total = 1 + sum(sizes[id(c)] for c in children)
        if total > MAX_YAML_VALUES:
            raise ValueError(
                f"the YAML holds more than {MAX_YAML_VALUES} values once its aliases are "
                "expanded (the limit)"
            )
        sizes[id(node)] = total


def dump_config(cfg: BaseModel) -> str:
    return yaml.dump(cfg.model_dump(mode="json"), Dumper=YamlDumper, sort_keys=False)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem
