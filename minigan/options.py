"""Options written once: a command's options are one table of ``Option`` rows.

From the table come the command's argparse parser (and so its ``--help``), its defaults, the check of every
value (type, choices, range), which options a ``--resume`` may change, the refusal of an option that the
run does not use, and the table in the docs. A row says everything about its option::

    Option("momentum", float, 0.0, "SGD's momentum", bounds="[0, 1)", when=("optimizer", "sgd"))

is ``--momentum``: a float, 0 unless given, in [0, 1), and refused (by name) when given with another
optimizer. ``minigan.gan.config.TRAIN`` is ``minigan train``'s table.
"""
import argparse
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Option:
    """One option of a command.

    Args:
        name: the key in the command's config; the flag is ``--name`` with "-" for "_".
        type: int, float, str, or bool (a flag: given or not).
        default: the value when the option is not given; None: unset, or chosen by a recipe.
        help: one line for ``--help`` (the default and ``when`` are added to it).
        choices: the allowed values (str options).
        bounds: the allowed range of a number: ">= 1", "> 0", "[0, 1)", "(0, inf)", ...
        resume: whether ``--resume`` may change it.
        when: (key, values): the option is used only when the config's ``key`` is one of ``values`` (a value
            or a tuple); given otherwise, it is refused.
        group: options of one group exclude each other on the command line.
        required: the command line must give it (for a group: one of the group's options).
        metavar: the placeholder in ``--help`` (default: the name in capitals).
    """
    name: str
    type: type
    default: object = None
    help: str = ""
    choices: tuple = ()
    bounds: str = ""
    resume: bool = False
    when: tuple = ()
    group: str = ""
    required: bool = False
    metavar: str = None

    @property
    def flag(self):
        return flag(self.name)

    @property
    def used_only_with(self):
        """(the key, the tuple of its values) that ``when`` names, or None."""
        if not self.when:
            return None
        key, values = self.when
        return key, values if isinstance(values, tuple) else (values,)

    def used_with(self, config):
        """Whether a run with ``config`` reads this option."""
        return not self.when or config.get(self.used_only_with[0]) in self.used_only_with[1]


def flag(name):
    """The command-line flag of a config key: "batch_size" -> "--batch-size"."""
    return "--" + name.replace("_", "-")


# ---------------------------------------------------------------- the parser and --help
def add_arguments(parser, table, recipe_keys=()):
    """Add one argument per option to an argparse parser. An option left out is absent from the parsed
    namespace (``argparse.SUPPRESS``), so ``given(namespace, table)`` is exactly what the user typed.
    ``recipe_keys``: options whose default comes from a recipe (their help says so)."""
    groups = {}
    for opt in table:
        target, kw = parser, dict(default=argparse.SUPPRESS, help=help_text(opt, opt.name in recipe_keys))
        if opt.group:
            if opt.group not in groups:
                required = any(o.required for o in table if o.group == opt.group)
                groups[opt.group] = parser.add_mutually_exclusive_group(required=required)
            target = groups[opt.group]
        elif opt.required:
            kw["required"] = True
        if opt.type is bool:
            target.add_argument(opt.flag, action="store_true", **kw)
            continue
        kw["metavar"] = opt.metavar or opt.name.upper()
        if opt.choices:
            kw["choices"], kw["metavar"] = list(opt.choices), None
        target.add_argument(opt.flag, type=opt.type, **kw)


def help_text(opt, from_recipe=False):
    """The option's help line: its text, where it is used, its default."""
    text = opt.help
    if opt.when:
        key, values = opt.used_only_with
        text += f"; with {flag(key)} {' or '.join(map(str, values))} only"
    if from_recipe:
        text += " (default: the recipe's" + ("" if opt.default is None else f", else {opt.default}") + ")"
    elif opt.type is not bool and opt.default is not None:
        text += f" (default: {opt.default})"
    return text.replace("%", "%%")


def given(namespace, table):
    """{name: value} of the table's options that a parsed namespace holds (the ones given)."""
    values = vars(namespace)
    return {opt.name: values[opt.name] for opt in table if opt.name in values}


# ---------------------------------------------------------------- defaults, checks, resume
def defaults(table):
    """{name: default} for every option of the table."""
    return {opt.name: opt.default for opt in table}


def complete(config, table):
    """``config`` with every option it lacks set to its default (a config written before the option existed)."""
    for opt in table:
        config.setdefault(opt.name, opt.default)
    return config


def may_change_on_resume(table):
    """The names of the options a resume may change."""
    return tuple(opt.name for opt in table if opt.resume)


def check(config, table, source=None):
    """Refuse a value of the wrong type, outside its choices or outside its bounds (None: unset, allowed).
    ``source``: where the values were read (a run's config.json), named in the error instead of the flags."""
    for opt in table:
        value = config.get(opt.name)
        if value is not None:
            check_value(opt, value, source)


def check_value(opt, value, source=None):
    """One option's value, or a ValueError naming the flag (or the key in ``source``) and the value."""
    name = opt.flag if source is None else f"{opt.name!r} in {source}"
    if opt.type is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be true or false; got {value!r}")
        return
    if opt.type is str:
        if opt.choices and value not in opt.choices:
            raise ValueError(f"{name} must be one of {', '.join(opt.choices)}; got {value!r}")
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string; got {value!r}")
        if not value.strip():                  # '' would mean "not given" further on: refused, not ignored
            raise ValueError(f"{name} must not be empty; got {value!r}")
        return
    whole = opt.type is int
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer) if whole
                                                             else (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be {'a whole number' if whole else 'a number'}; got {value!r}")
    if not whole and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}")
    if opt.bounds and not within(value, opt.bounds):
        where = f"in {opt.bounds}" if opt.bounds[0] in "[(" else opt.bounds
        raise ValueError(f"{name} must be {where}; got {value!r}")


def within(value, bounds):
    """Whether ``value`` lies in ``bounds``: ">= a", "> a", "<= a", "< a", or an interval "[a, b)" (inf allowed)."""
    for op, test in ((">=", lambda a: value >= a), ("<=", lambda a: value <= a), (">", lambda a: value > a),
                     ("<", lambda a: value < a)):
        if bounds.startswith(op):
            return test(float(bounds[len(op):]))
    lo, hi = (float(v) for v in bounds[1:-1].split(","))
    return (value >= lo if bounds[0] == "[" else value > lo) and (value <= hi if bounds[-1] == "]" else value < hi)


def refuse_unused(given_options, config, table):
    """Refuse, by name, an option the user gave that a run with ``config`` would not use."""
    for opt in table:
        if opt.name in given_options and given_options[opt.name] is not None and not opt.used_with(config):
            key, values = opt.used_only_with
            raise ValueError(f"{opt.flag} is used only with {flag(key)} {' or '.join(map(str, values))}; this run "
                             f"has {flag(key)} {config.get(key)}: leave {opt.flag} out")


# ---------------------------------------------------------------- the docs
def markdown(table, recipe_keys=()):
    """The table as a Markdown table (docs/options.md shows minigan train's)."""
    rows = ["| option | what it sets | type | default | allowed | used only with | a resume may change it |",
            "|---|---|---|---|---|---|---|"]
    for opt in table:
        default = "" if opt.default is None or opt.type is bool else f"`{opt.default}`"
        if opt.name in recipe_keys:
            default = "the recipe's" + (f", else {default}" if default else "")
        allowed = ", ".join(f"`{c}`" for c in opt.choices) or (f"`{opt.bounds}`" if opt.bounds else "")
        used = ""
        if opt.when:
            key, values = opt.used_only_with
            used = f"`{flag(key)} {' / '.join(map(str, values))}`"
        kind = "flag" if opt.type is bool else opt.type.__name__
        rows.append(f"| `{opt.flag}` | {opt.help} | {kind} | {default} | {allowed} | {used} | "
                    f"{'yes' if opt.resume else ''} |")
    return "\n".join(rows) + "\n"
