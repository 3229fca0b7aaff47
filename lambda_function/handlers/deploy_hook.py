"""CodeDeploy's pre-traffic hook (template.yaml: PreTrafficHookFunction). It loads its model at each
check (the new versions', named in its environment), so it holds nothing per container."""

from __future__ import annotations

from lambda_function.deploy.hook import handler

__all__ = ["handler"]
