"""The built-in templates (from the quant core): browse them, read one, copy one into a new strategy."""

from __future__ import annotations

import difflib

from sqlalchemy.orm import Session

from platform_core.errors import NotFound
from quant import templates
from quant.templates import TemplateInfo
from strategy_management.config import StrategyEnv
from strategy_management.schemas import FromTemplate, ParamSchema, StrategyRead, TemplateRead, TemplateSummary
from strategy_management.service.authoring import new_strategy
from user_auth.principal import Principal


def _template_summary(info: TemplateInfo) -> TemplateSummary:
    return TemplateSummary(
        name=info.name, title=info.title, doc=info.doc, params=[ParamSchema(**p) for p in info.params]
    )


def list_templates() -> list[TemplateSummary]:
    """The engine's built-in strategies with their docs and parameter schemas."""
    return [_template_summary(t) for t in templates.list_templates()]


def template_source(name: str) -> TemplateRead:
    """Published: one template with its source (NOT_FOUND for an unknown name)."""
    try:
        info = templates.get_template(name)
    except KeyError:
        available = sorted(templates.TEMPLATE_NAMES)
        close = difflib.get_close_matches(name, available, n=1)
        message = f"unknown template {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
        details = {"template": name, "available": available, **({"did_you_mean": close[0]} if close else {})}
        raise NotFound(message, details=details) from None
    return TemplateRead(**_template_summary(info).model_dump(), source=info.source)


def create_from_template(
    session: Session, env: StrategyEnv, principal: Principal, body: FromTemplate, *, described: dict | None = None
) -> StrategyRead:
    """Published: copy a template into a new strategy of the caller's (same runner path as any source;
    `described`: what `prepare_source` returned for the template's source when the caller ran it already)."""
    template = template_source(body.template)
    return new_strategy(
        session,
        env,
        principal,
        name=body.name or template.name,
        description=body.description if body.description is not None else template.title,
        tags=body.tags,
        source=template.source,
        message=f"from template {template.name}",
        origin={"origin": "template", "template": template.name},
        described=described,
    )
