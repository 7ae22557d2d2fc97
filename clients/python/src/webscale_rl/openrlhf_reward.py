"""The file to give OpenRLHF as `--remote_rm_url`: it calls a module-level `reward_func`."""

from webscale_rl.reward import openrlhf_reward_func as reward_func

__all__ = ["reward_func"]
