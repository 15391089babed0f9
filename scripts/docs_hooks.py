"""MkDocs hooks (mkdocs.yml `hooks:`): the parts of the site generated from the code.

A page asks for a generated block with a line of its own:

    <!-- vi-od:settings svi-normal -->   the settings table of a method (conf/method/<name>.yaml)
    <!-- vi-od:simulator bcm-roles -->   a model's simulator settings (conf/model/<name>.yaml)
    <!-- vi-od:config -->                the top-level keys of conf/config.yaml
    <!-- vi-od:cli -->                   the command-line reference, from the Typer app

Defaults come from the composed Hydra config, the values `vi-od` runs with; each key's
meaning is its YAML comment. tests/test_docs_defaults.py checks that these values equal the
Settings dataclasses' defaults, so one file holds each default and the rest are checked.
An unknown block name, or a key without a comment, fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
BLOCK = re.compile(r"^<!-- vi-od:([a-z-]+)(?: ([a-z0-9-]+))? -->$", re.MULTILINE)
KEY_LINE = re.compile(r"^([A-Za-z_]\w*):\s*(.*?)\s*(?:#\s*(.*))?$")


class DocsError(Exception):
    """A generated block that cannot be built (unknown name, undocumented key)."""


def yaml_comments(path: Path, section: str | None = None) -> dict[str, str]:
    """Each top-level key of a conf file (or each key of its top-level `section`) with its
    trailing comment ('' when it has none)."""
    out, inside = {}, section is None
    for line in path.read_text().splitlines():
        if section is not None and not line.startswith(" "):
            inside = line.startswith(f"{section}:")
            continue
        match = KEY_LINE.match(line.strip() if section is not None else line)
        if inside and match and match.group(1) != "defaults":
            out[match.group(1)] = (match.group(3) or "").strip()
    return out


def show(value) -> str:
    """A config value as it is written in YAML and on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def _cell(text: str) -> str:
    """Text for a table cell: pipes escaped, angle brackets shown (not read as HTML)."""
    return _text(text).replace("|", "\\|")


def _text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defaults_table(prefix: str, values: dict, comments: dict[str, str], source: str) -> str:
    """A Markdown table: key (as an override), default, meaning (the YAML comment)."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key, value in values.items():
        meaning = comments.get(key, "")
        if not meaning:
            raise DocsError(f"{source}: key '{key}' has no comment to document it")
        rows.append(f"| `{prefix}{key}` | `{show(value)}` | {_cell(meaning)} |")
    note = f"\nDefaults as composed from `{source}`; override any with `{prefix}KEY=VALUE`.\n"
    return "\n".join(rows) + "\n" + note


def method_defaults(name: str) -> dict:
    """A method's defaults as `vi-od fit --method NAME` composes them (without `name`)."""
    from omegaconf import OmegaConf

    from vi_od.config import compose_config

    values = OmegaConf.to_container(compose_config([f"method={name}"]).method, resolve=True)
    values.pop("name")
    return values


def settings_block(name: str | None) -> str:
    from vi_od.inference import registry

    if name not in registry():
        raise DocsError(f"vi-od:settings: unknown method '{name}'")
    path = CONF / "method" / f"{name}.yaml"
    source = f"conf/method/{name}.yaml"
    return defaults_table("method.", method_defaults(name), yaml_comments(path), source)


def simulator_block(model: str | None) -> str:
    """A model's simulator settings as `vi-od simulate model=NAME` composes them."""
    from omegaconf import OmegaConf

    from vi_od.config import compose_config

    model = model or "bcm-roles"
    path = CONF / "model" / f"{model}.yaml"
    if not path.is_file():
        raise DocsError(f"vi-od:simulator: unknown model '{model}'")
    values = OmegaConf.to_container(compose_config([f"model={model}"]).simulator, resolve=True)
    source = f"conf/model/{model}.yaml"
    return defaults_table("simulator.", values, yaml_comments(path, "simulator"), source)


def config_block(_: str | None) -> str:
    from omegaconf import OmegaConf

    from vi_od.config import compose_defaults

    cfg = OmegaConf.to_container(compose_defaults(), resolve=True)
    values = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
    comments = yaml_comments(CONF / "config.yaml")
    comments |= yaml_comments(CONF / "model" / "bcm-roles.yaml")  # its top-level keys
    return defaults_table("", values, comments, "conf/config.yaml and conf/model/bcm-roles.yaml")


def cli_block(_: str | None) -> str:
    """Every command of the Typer app: what it does, its usage, its arguments and options."""
    import click
    import typer

    from vi_od.cli import app

    group = typer.main.get_command(app)
    root = click.Context(group, info_name="vi-od")
    parts = [group.help or "", ""]
    for name, command in group.commands.items():
        ctx = click.Context(command, info_name=name, parent=root)
        usage = " ".join(["vi-od", name, *command.collect_usage_pieces(ctx)])
        parts += [f"## `vi-od {name}`", "", _help_text(command.help or ""), ""]
        parts += ["```text", usage, "```", "", "| argument or option | meaning |", "| --- | --- |"]
        for param in command.params:
            record = param.get_help_record(ctx)
            if record:
                names = record[0].replace("|", "\\|")
                parts.append(f"| `{names}` | {_cell(record[1])} |")
        parts.append("")
    return "\n".join(parts)


def _help_text(text: str) -> str:
    """A command's docstring for Markdown: its `Example:` lines as code."""
    out = []
    for para in text.strip().split("\n\n"):
        para = " ".join(line.strip() for line in para.splitlines())
        if para.startswith("Example: "):
            out.append(f"Example: `{para.removeprefix('Example: ')}`")
        else:
            out.append(_text(para))
    return "\n\n".join(out)


BLOCKS = {
    "settings": settings_block,
    "simulator": simulator_block,
    "config": config_block,
    "cli": cli_block,
}


def render(markdown: str) -> str:
    """The page with every generated block filled in."""

    def fill(match: re.Match) -> str:
        kind, arg = match.group(1), match.group(2)
        if kind not in BLOCKS:
            raise DocsError(f"unknown generated block 'vi-od:{kind}'")
        return BLOCKS[kind](arg)

    return BLOCK.sub(fill, markdown)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs API)
    return render(markdown)
