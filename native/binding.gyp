{
  "targets": [
    {
      "target_name": "visp_nl",
      "sources": ["nlsock.c", "pktsock.c", "netnsmake.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
