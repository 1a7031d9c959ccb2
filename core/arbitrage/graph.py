"""The currency graph of one instance and its conversion cycles.

Every trading market ``BASE/QUOTE`` gives two directed edges: ``BASE→QUOTE`` (sell base at the bid)
and ``QUOTE→BASE`` (buy base at the ask). Edge ``2*m`` is market ``m``'s sell edge, ``2*m+1`` its buy
edge. A cycle is a simple directed cycle of 3 to ``max_legs`` edges.

Each directed cycle is enumerated exactly once, rotated to start at its *start asset*: the first of
the preferred starts it contains (USDT, USDC, … BTC, ETH), else its lexicographically smallest asset.
The two directions of a triangle are two different cycles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from core.models import Market

Side = Literal["sell", "buy"]


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed conversion ``source → target`` through one market."""

    index: int
    market: int
    symbol: str
    side: Side
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class Cycle:
    """A conversion cycle: ``assets[0] → assets[1] → … → assets[0]`` along ``edges``."""

    index: int
    key: str
    assets: tuple[str, ...]
    edges: tuple[int, ...]

    @property
    def markets(self) -> tuple[int, ...]:
        """Indices of the markets traded, in leg order."""
        return tuple(e >> 1 for e in self.edges)


def asset_rank(assets: Iterable[str], preferred: Sequence[str]) -> dict[str, int]:
    """Order of preference as a start asset: preferred ones in order, then the rest sorted."""
    present = set(assets)
    ordered = [a for a in dict.fromkeys(preferred) if a in present]
    ordered += sorted(present - set(ordered))
    return {asset: rank for rank, asset in enumerate(ordered)}


class MarketGraph:
    """The trading markets of one instance as a directed multigraph of assets."""

    def __init__(self, markets: Iterable[Market], preferred_starts: Sequence[str]) -> None:
        seen: dict[str, Market] = {}
        for market in markets:
            if market.status == "trading" and market.base != market.quote:
                seen.setdefault(market.symbol, market)
        self.markets: tuple[Market, ...] = tuple(seen.values())
        self.index: dict[str, int] = {m.symbol: i for i, m in enumerate(self.markets)}
        edges: list[Edge] = []
        for i, m in enumerate(self.markets):
            edges.append(Edge(2 * i, i, m.symbol, "sell", m.base, m.quote))
            edges.append(Edge(2 * i + 1, i, m.symbol, "buy", m.quote, m.base))
        self.edges: tuple[Edge, ...] = tuple(edges)
        self.outgoing: dict[str, list[Edge]] = {}
        for edge in edges:
            self.outgoing.setdefault(edge.source, []).append(edge)
        self.rank = asset_rank(self.outgoing, preferred_starts)

    def cycles(self, max_legs: int) -> list[Cycle]:
        """Every simple cycle of 3..``max_legs`` edges, once each, from its start asset.

        A depth-first search from each asset ``s`` visits only assets ranked after ``s``, so ``s`` is
        the best-ranked asset of every cycle found from it.
        """
        found: list[Cycle] = []
        rank = self.rank
        for start in sorted(self.outgoing, key=rank.__getitem__):
            floor = rank[start]
            path_assets = [start]
            path_edges: list[int] = []
            stack = [iter(self.outgoing[start])]
            while stack:
                edge = next(stack[-1], None)
                if edge is None:
                    stack.pop()
                    if path_edges:
                        path_edges.pop()
                        path_assets.pop()
                    continue
                target = edge.target
                if target == start:
                    if len(path_edges) >= 2:
                        edges = (*path_edges, edge.index)
                        key = ",".join(f"{self.edges[e].symbol}:{self.edges[e].side}" for e in edges)
                        found.append(Cycle(len(found), key, tuple(path_assets), edges))
                    continue
                if rank[target] <= floor or target in path_assets or len(path_edges) + 1 >= max_legs:
                    continue
                path_assets.append(target)
                path_edges.append(edge.index)
                stack.append(iter(self.outgoing[target]))
        return found
