"""Everything one running stand-in holds: its clock, faults, request log, held callbacks and the three
providers' payments. One per app; nothing is shared between apps."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.providers._standin.callbacks import Courier
from shared.providers._standin.config import StandInConfig
from shared.providers._standin.core import Clock, Faults, RequestLog, StandIn
from shared.providers._standin.midtrans import MidtransStandIn
from shared.providers._standin.pivot import PivotStandIn
from shared.providers._standin.revenue_monster import RevenueMonsterStandIn

# Each provider's stand-in: it names its provider and turns the provider's example callback into a payment.
KINDS = (PivotStandIn, RevenueMonsterStandIn, MidtransStandIn)


@dataclass
class World:
    config: StandInConfig
    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    log: RequestLog = field(default_factory=RequestLog)
    courier: Courier = field(default_factory=Courier)
    providers: dict[str, StandIn] = field(default_factory=dict)

    def __post_init__(self) -> None:
        made: list[StandIn] = [kind(self.config, self.clock) for kind in KINDS]
        self.providers = {p.name: p for p in made}

    def reset(self) -> None:
        for provider in self.providers.values():
            provider.reset()
        self.clock.reset()
        self.faults.clear()
        self.log.clear()
        self.courier.reset()
