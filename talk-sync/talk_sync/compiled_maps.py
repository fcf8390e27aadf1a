"""The built-in stream maps' expressions run as compiled Python (:class:`CompiledMapper`).

The SDK's mapper evaluates each expression by walking its syntax tree with simpleeval, for
every record: about 0.25 ms for a mapped Asana task, and every task goes through the maps
of two flows. The built-in maps are the targets' own file, so their expressions are
compiled once to Python code and run on the same names the SDK gives them (the record's
fields, ``record``, ``config``, ``__stream_name__``...; the SDK's functions as the only
builtins). Only expressions made of what Python and simpleeval evaluate alike are
compiled (:func:`evaluates_alike`); an expression that fails is evaluated again by the
SDK's evaluator, so that a failure is the SDK's, word for word (a missing field is its
``MapExpressionError``). simpleeval's limits on huge values (strings over 100,000
characters, powers) are not applied to the compiled ones.

Stream maps from the config (``stream_maps``) are evaluated by the SDK exactly as it
defines them: they may be anyone's, and simpleeval is the SDK's sandbox.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from types import CodeType
from typing import Any

import simpleeval
from singer_sdk.mapper import CustomStreamMap, PluginMapper
from typing_extensions import override

#: Syntax whose meaning is the same in Python and in the SDK's simpleeval evaluator.
#: Excluded: what simpleeval refuses or limits (lambdas, assignments, attributes starting
#: with ``_``, ``**``, ``*`` on sequences, f-strings), and anything not listed.
_ALIKE_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Call,
    ast.keyword,
    ast.IfExp,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.ListComp,
    ast.comprehension,
)


def evaluates_alike(tree: ast.AST) -> bool:
    """Whether Python evaluates ``tree`` (an expression) as the SDK's simpleeval does."""
    for node in ast.walk(tree):
        if not isinstance(node, _ALIKE_NODES):
            return False
        if isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or node.attr in simpleeval.DISALLOW_METHODS
        ):
            return False
        if isinstance(node, ast.comprehension) and node.is_async:
            return False
    return True


class CompiledEvaluator:
    """Stands in for a :class:`CustomStreamMap`'s simpleeval evaluator.

    The map sets :attr:`names` and calls :meth:`eval` for each expression, as it does its
    own evaluator's; expressions that do not evaluate alike go to that evaluator.
    """

    def __init__(self, sdk_evaluator: simpleeval.EvalWithCompoundTypes) -> None:
        self.sdk_evaluator = sdk_evaluator
        self.names: dict[str, Any] = {}
        # The SDK's functions are all a compiled expression may call, as in simpleeval.
        self._builtins = dict(sdk_evaluator.functions)
        #: Per expression: its code, or ``None`` for the SDK's evaluator.
        self._code: dict[str, CodeType | None] = {}

    def eval(self, expr: str, previously_parsed: ast.AST | None = None) -> Any:
        """``expr``'s value on :attr:`names`, as the SDK's evaluator gives it."""
        try:
            code = self._code[expr]
        except KeyError:
            code = self._code[expr] = _compile(expr)
        names = self.names  # the map makes them afresh for each expression
        if code is not None:
            # The names as globals: comprehensions read them too (locals they would not).
            names["__builtins__"] = self._builtins
            try:
                return eval(code, names)  # noqa: S307 - the target's own maps, checked alike
            except Exception:  # the SDK's evaluator says what is wrong
                del names["__builtins__"]
        self.sdk_evaluator.names = names
        return self.sdk_evaluator.eval(expr, previously_parsed=previously_parsed)

    def compiled(self, expr: str) -> bool:
        """Whether ``expr`` runs compiled (else on the SDK's evaluator)."""
        if expr not in self._code:
            self._code[expr] = _compile(expr)
        return self._code[expr] is not None


def _compile(expr: str) -> CodeType | None:
    """``expr`` compiled, or ``None`` when it is not evaluated alike (or does not parse)."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return None
    if not evaluates_alike(tree):
        logging.getLogger(__name__).debug("Stream map expression left to the SDK: %s", expr)
        return None
    return compile(tree, "<stream map>", "eval")


class CompiledMapper(PluginMapper):
    """The SDK's mapper, whose custom stream maps evaluate through :class:`CompiledEvaluator`.

    For the targets' built-in maps only (see the module's docstring).
    """

    @override
    def register_raw_stream_schema(
        self, stream_name: str, schema: dict, key_properties: Sequence[str] | None
    ) -> None:
        super().register_raw_stream_schema(stream_name, schema, key_properties)
        for stream_map in self.stream_maps.get(stream_name, []):
            if isinstance(stream_map, CustomStreamMap) and not isinstance(
                stream_map.expr_evaluator, CompiledEvaluator
            ):
                stream_map.expr_evaluator = CompiledEvaluator(stream_map.expr_evaluator)
