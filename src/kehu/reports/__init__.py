"""Reports (客户增减、区域、投诉统计、销售与回款): figures within the viewer's data scope, charts and Excel."""
