"""The ELCRec model: the SASRec encoder with intent centres, the loss parts and the centres' start."""
