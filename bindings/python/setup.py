"""setup.py: builds the wxshm package (stdlib only) for Debian's pybuild and for pip."""

from setuptools import setup

setup(
    name="wxshm",
    version="0.1.0",
    description="Read the WeChat access tokens wxtokend publishes in shared memory",
    long_description="wxshm reads the WeChat access token that wxtokend keeps fresh, from its shared-memory "
                     "segment with no system call, and asks the agent for a refresh (compare-and-refresh by "
                     "generation) when WeChat refuses a token.",
    author="wxtokend developers",
    author_email="wxtokend@example.org",
    license="Expat",
    packages=["wxshm"],
    python_requires=">=3.9",
    classifiers=["Operating System :: POSIX :: Linux", "Programming Language :: Python :: 3"],
)
