from setuptools import setup

package_name = 'strata_demo'

setup(
    name=package_name,
    version='0.1.0',
    packages=[package_name],
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='strata',
    maintainer_email='strata@example.invalid',
    description='A tiny ROS 2 style Python package built with colcon',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'strata_demo_talker = strata_demo.talker:main',
        ],
    },
)
