"""Host tracers from the course, redone with libbpf + CO-RE + ring buffers."""
