"""Load cases as data (axial compression, subsidence) and their boundary-condition builders."""
