"""Fleet acceptance: run one suite on every GPU of a cluster through the scheduler it already has, then judge
every GPU against its siblings and a baseline (`gpubench fleet launch | check | baseline`).

    result = launch(LaunchOptions("fleet", "slurm", nodes=4, gpus_per_node=8, out=Path("/shared/acc")))
    check = check_fleet(["/shared/acc"], load_rules("baseline.toml"))   # check.findings: the failing GPUs

Torch-free: the launcher writes scheduler input, the check reads run folders through gpubench.store.
"""

from gpubench.fleet.check import Finding, FleetCheck, Unit, check_fleet, collect, derive_baseline, judge
from gpubench.fleet.launch import SCHEDULERS, LaunchOptions, LaunchResult, launch, parse_hosts
from gpubench.fleet.manifest import MANIFEST, Manifest, read_manifest
from gpubench.fleet.rules import Rule, RuleSet, load_rules, parse_rules, rules_toml

__all__ = [
    "MANIFEST",
    "SCHEDULERS",
    "Finding",
    "FleetCheck",
    "LaunchOptions",
    "LaunchResult",
    "Manifest",
    "Rule",
    "RuleSet",
    "Unit",
    "check_fleet",
    "collect",
    "derive_baseline",
    "judge",
    "launch",
    "load_rules",
    "parse_hosts",
    "parse_rules",
    "read_manifest",
    "rules_toml",
]
