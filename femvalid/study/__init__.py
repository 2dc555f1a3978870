"""Study files, the job matrix, caching, local and Dask execution."""
