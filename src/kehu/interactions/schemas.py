"""Request bodies of follow-ups and communications, generated from the catalogue."""
from kehu.schemas import input_model

FollowUpCreate = input_model("followup", "Create")
CommunicationCreate = input_model("communication", "Create")
