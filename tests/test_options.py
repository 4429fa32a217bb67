"""One table of options (minigan.options, minigan.gan.config.TRAIN): the parser, --help, the defaults, the checks,
the resume rules and the refusal of unused options all come from it; docs/options.md shows it."""
import argparse
import os
import subprocess
import sys

import pytest

from minigan import options
from minigan.gan import config
from minigan.options import Option

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = (Option("n", int, 4, "how many", bounds=">= 1"), Option("rate", float, 0.5, "a rate", bounds="(0, 1]"),
       Option("mode", str, "a", "a mode", choices=("a", "b")),
       Option("extra", float, None, "only for mode b", bounds=">= 0", when=("mode", "b"), resume=True),
       Option("loud", bool, False, "a flag"))


def test_a_table_makes_the_parser_the_defaults_and_the_checks():
    p = argparse.ArgumentParser()
    options.add_arguments(p, TOY)
    given = options.given(p.parse_args(["--rate", "0.25", "--loud"]), TOY)
    assert given == {"rate": 0.25, "loud": True}                          # only what was typed
    cfg = dict(options.defaults(TOY), **given)
    assert cfg == {"n": 4, "rate": 0.25, "mode": "a", "extra": None, "loud": True}
    options.check(cfg, TOY)
    assert options.may_change_on_resume(TOY) == ("extra",)
    for bad, message in ((dict(n=0), "--n must be >= 1; got 0"), (dict(rate=1.5), "--rate must be in (0, 1]"),
                         (dict(rate=float("nan")), "--rate must be a finite number"), (dict(n=2.5), "whole number"),
                         (dict(mode="c"), "--mode must be one of a, b; got 'c'")):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
            options.check(dict(cfg, **bad), TOY)
    with pytest.raises(ValueError, match="--extra is used only with --mode b; this run has --mode a"):
        options.refuse_unused({"extra": 1.0}, cfg, TOY)
    options.refuse_unused({"extra": 1.0}, dict(cfg, mode="b"), TOY)
    assert "how many (default: 4)" in p.format_help() and "with --mode b only" in p.format_help()


def test_train_help_and_defaults_come_from_the_table(capsys):
    from minigan.cli import _parser
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for opt in config.TRAIN:
        assert opt.flag in text
    assert "WGAN's weight clipping bound c; with --loss wasserstein only (default: 0.01)" in text
    cfg = config.make_config(data="ring")
    assert set(cfg) == set(config.OPTIONS)                               # a config holds every option
    assert (cfg["clip"], cfg["gp_lambda"], cfg["log_every"]) == tuple(config.OPTIONS[k].default
                                                                      for k in ("clip", "gp_lambda", "log_every"))
    assert config.RESUME_MAY_CHANGE == tuple(o.name for o in config.TRAIN if o.resume)


def test_every_recipe_sets_only_options_of_the_table():
    for recipe in list(config.RECIPES.values()) + [r for r, _ in config.OVERRIDES.values()]:
        assert set(recipe) <= set(config.OPTIONS), set(recipe) - set(config.OPTIONS)
    for name in config.RECIPES:                                            # and each makes a valid config
        for model in ("mlp", "dcgan32") if name in config.IMAGE_SETS else ("toy",):
            for loss in ("nonsaturating", "wasserstein", "wasserstein-gp"):
                config.make_config(data=name, model=model, loss=loss)


def test_required_options_and_groups():
    table = (Option("run", str, None, "a run", required=True), Option("images", str, None, "a file", group="src",
             required=True), Option("data", str, None, "a data set", group="src"))
    p = argparse.ArgumentParser()
    options.add_arguments(p, table)
    assert options.given(p.parse_args(["--run", "r", "--data", "d"]), table) == {"run": "r", "data": "d"}
    for argv in (["--data", "d"], ["--run", "r"], ["--run", "r", "--data", "d", "--images", "i"]):
        with pytest.raises(SystemExit):                 # --run missing; neither of the group; both of it
            p.parse_args(argv)


def test_an_unknown_option_is_refused():
    with pytest.raises(ValueError, match="unknown training option"):
        config.make_config(data="ring", learning_rate=0.1)


def test_the_options_page_shows_the_table():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "img", "make_options_table.py")],
                         capture_output=True, text=True, check=True).stdout
    page = open(os.path.join(ROOT, "docs", "options.md")).read()
    assert out in page, "docs/options.md: rerun docs/img/make_options_table.py"
