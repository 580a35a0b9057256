"""The admin API's plan and model prices (docs/contract.md section 4): what the billing page shows,
read-only (platform staff keep plans and prices)."""

from django.http import HttpRequest
from ninja import Field, Router, Schema

from billing.ledger import selectors
from billing.money import money_text
from gateway_console import admin_tokens
from gateway_console.api_schemas import READ, errors

router = Router(tags=["billing"])


class PlanOut(Schema):
    name: str | None = Field(description="null: the org has no plan (list prices, every model).")
    price_multiplier: str = Field(description="Applied to every model price, e.g. `1.2000`.")
    models: list[str] | None = Field(
        description="The models the plan covers; null: every priced model."
    )


class PriceOut(Schema):
    model: str
    input_per_million: str = Field(description="USD per million input tokens, list price.")
    output_per_million: str = Field(description="USD per million output tokens, list price.")
    max_output_tokens: int = Field(description="The model's longest answer: bounds a hold.")
    org_input_per_million: str = Field(description="What this org pays: list × multiplier.")
    org_output_per_million: str = Field(description="What this org pays: list × multiplier.")


class PriceListOut(Schema):
    data: list[PriceOut]


@router.get("/plan", response={200: PlanOut, **errors(*READ)}, summary="The org's plan")
def get_plan(request: HttpRequest):
    plan = admin_tokens.as_membership(request.auth).org.plan
    if plan is None:
        return {"name": None, "price_multiplier": "1", "models": None}
    models = sorted(plan.models.values_list("model", flat=True))
    return {
        "name": plan.name,
        "price_multiplier": str(plan.price_multiplier),
        "models": models or None,
    }


@router.get(
    "/prices",
    response={200: PriceListOut, **errors(*READ)},
    summary="The prices of the models the org may call",
    description="Per million tokens, as list prices and with the plan's multiplier applied.",
)
def list_prices(request: HttpRequest):
    org = admin_tokens.as_membership(request.auth).org
    multiplier = org.plan.price_multiplier if org.plan else 1
    return {
        "data": [
            {
                "model": price.model,
                "input_per_million": money_text(price.input_per_million),
                "output_per_million": money_text(price.output_per_million),
                "max_output_tokens": price.max_output_tokens,
                "org_input_per_million": money_text(price.input_per_million * multiplier),
                "org_output_per_million": money_text(price.output_per_million * multiplier),
            }
            for price in selectors.prices_for(org)
        ]
    }
