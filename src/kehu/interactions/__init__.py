"""Customer follow-ups (跟进记录) and communications (沟通纪要), and the customer timeline."""
