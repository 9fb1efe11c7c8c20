"""Host plumbing: kernel filesystems, network namespaces, privileges."""
