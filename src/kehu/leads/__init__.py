"""Lead stages (商机阶段 C/B/A1/A2/A3) of open deals, with stage history."""
