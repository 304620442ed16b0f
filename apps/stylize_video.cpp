int main() { return 1; }  // placeholder: being written (issue #15)
