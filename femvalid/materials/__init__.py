"""Materials: the library data file with sources, and validated inline materials."""

from femvalid.materials.library import Material, get_material, library, material_from_table

__all__ = ["Material", "get_material", "library", "material_from_table"]
