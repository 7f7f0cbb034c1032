"""Products, orders/contracts (订单/合同), payments (回款: plan and actual), receivables and delivery."""
