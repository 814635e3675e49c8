"""What calls cost: prices per backend or tool, a durable ledger, budgets per agent, showback."""

from pasarela.costs.ledger import CostLedger
from pasarela.costs.pricing import Budget, Price, compile_budgets, compile_prices
from pasarela.costs.stage import CostStage

__all__ = ["Budget", "CostLedger", "CostStage", "Price", "compile_budgets", "compile_prices"]
