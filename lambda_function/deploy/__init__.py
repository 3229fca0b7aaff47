"""The pre-traffic gate: golden customers, and the CodeDeploy hook that checks new versions with them."""
