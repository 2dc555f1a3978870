"""Meshing: closed surface → tetrahedra (gmsh, in a child process), quality, VTU."""

from femvalid.meshing.mesher import MeshSettings, default_size_mm, mesh_surface
from femvalid.meshing.quality import MeshQuality
from femvalid.meshing.volume_mesh import VolumeMesh, write_vtu

__all__ = ["MeshQuality", "MeshSettings", "VolumeMesh", "default_size_mm", "mesh_surface", "write_vtu"]
